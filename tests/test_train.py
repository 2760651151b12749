"""`kg train` for real on a tiny slice of SciERC: the training code stays honest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the train extra is not installed")

from typer.testing import CliRunner

from app.cli import app
from kg.trained.joint import JointModel
from pipelines.train.run import CONFIG_DIR, config_hash, file_hash

SCIERC = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "scierc"


@pytest.mark.skipif(not SCIERC.is_dir(), reason="needs ../shared/eval/scierc")
@pytest.mark.timeout(600)
def test_kg_train_on_a_tiny_slice(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--data", str(SCIERC), "--out", str(tmp_path), "--limit-docs", "2",
              "--max-steps", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = tmp_path / "scierc-joint"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["config_hash"] == config_hash(CONFIG_DIR / "scierc-joint.cfg")
    assert meta["train_data_sha256"] == file_hash(SCIERC / "train.jsonl")
    assert meta["limit_docs"] == 2
    assert {"ent_f1", "rel_f1"} <= set(meta["dev"])
    history = meta["training"]["history"]  # 2 steps: one epoch per step on a 2-document slice
    assert 1 <= len(history) <= 2
    assert meta["training"]["best_epoch"] in {h["epoch"] for h in history}
    assert (tmp_path / "scierc-joint.fp32.onnx").is_file()  # kept for re-quantising
    model = JointModel(folder)  # the exported model runs
    assert len(model.predict([["A", "parser", "for", "English", "."]])) == 1


def test_kg_train_refuses_a_missing_data_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "train.jsonl" in result.output
