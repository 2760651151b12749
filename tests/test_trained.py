"""The shipped trained model: provenance in its meta, run time without torch, mapping to spans."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kg.models import Chunk
from kg.ontology import load_ontology
from kg.trained import JOINT_MODEL, MODELS_DIR
from pipelines.extraction.trained import TrainedTier, pretokenized_segments, segments
from pipelines.train.run import CONFIG_DIR, config_hash, file_hash

SCIERC = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "scierc"
META = json.loads((JOINT_MODEL / "meta.json").read_text())


def test_meta_matches_the_config_in_the_repo() -> None:
    assert META["config_hash"] == config_hash(CONFIG_DIR / META["config"])
    assert META["kg_version"]
    assert META["limit_docs"] is None, "the shipped model was trained on all of train"
    assert META["dev"]["ent_f1"] > 0 and META["dev"]["rel_f1"] > 0
    assert META["training"]["best_epoch"] >= 1


@pytest.mark.skipif(not SCIERC.is_dir(), reason="needs ../shared/eval/scierc")
def test_meta_records_the_training_data() -> None:
    assert META["train_data_sha256"] == file_hash(SCIERC / "train.jsonl")
    assert META["dev_data_sha256"] == file_hash(SCIERC / "dev.jsonl")


def test_shipped_models_stay_small() -> None:
    size = sum(p.stat().st_size for p in MODELS_DIR.rglob("*") if p.is_file())
    assert size <= 40 * 2**20, f"shipped models are {size / 2**20:.1f} MB"


def test_runs_without_torch() -> None:
    """Run time is onnxruntime + numpy: importing torch must not be needed."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from kg.trained.joint import JointModel\n"
        "from kg.trained import JOINT_MODEL\n"
        "m = JointModel(JOINT_MODEL)\n"
        "words = 'We use a convolutional neural network for image classification .'.split()\n"
        "p = m.predict([words])[0]\n"
        "print([(' '.join(words[i:j+1]), t) for i, j, t, _ in p.entities])\n"
        "print([r[2] for r in p.relations])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ents, rels = (eval(line) for line in done.stdout.strip().splitlines())
    assert ("convolutional neural network", "Method") in ents
    assert ("image classification", "Task") in ents
    assert "USED-FOR" in rels


def test_segments_keep_exact_offsets_and_drop_table_furniture() -> None:
    text = (
        "## Week 2\n| Topic | Tool |\n|---|---|\n| k-means clustering | scikit-learn |\n"
        "PCA, e.g. here."
    )
    segs = segments(text)
    words = [w for s in segs for w in s.words]
    assert "|" not in words and "#" not in words and "---" not in words
    assert "k-means" in words and "scikit-learn" in words
    for s in segs:
        for w, a, b in zip(s.words, s.starts, s.ends, strict=True):
            assert text[a:b] == w
    cells = [" ".join(s.words) for s in segs]
    assert "k-means clustering" in cells and "scikit-learn" in cells  # cells are segments


def test_pretokenized_segments_follow_the_spaces() -> None:
    text = "We use -LRB- CNNs -RRB- . Then it works ."
    segs = pretokenized_segments(text)
    assert [s.words for s in segs] == [["We", "use", "-LRB-", "CNNs", "-RRB-", "."],
                                       ["Then", "it", "works", "."]]  # fmt: skip


def test_tier_maps_labels_into_the_notes_ontology() -> None:
    onto = load_ontology("default")
    text = "Intro.\nWe use a convolutional neural network for image classification ."
    chunk = Chunk.make("doc_x", 0, 100, text)
    result = TrainedTier(onto).extract([chunk])[chunk.id]
    by_id = {e.id: e for e in result.entities}
    for ent in result.entities:
        assert ent.source == "trained"
        for m in ent.mentions:
            assert text[m.start - 100 : m.end - 100] == m.text == ent.name
    names = {(e.name, e.type) for e in result.entities}
    assert ("convolutional neural network", "Method") in names
    assert ("image classification", "Task") in names
    uses = [rs.relation for rs in result.relations if rs.relation.type == "USES"]
    assert uses, [rs.relation.type for rs in result.relations]
    rel = uses[0]  # "CNN USED-FOR classification" is "classification USES CNN"
    assert by_id[rel.head_id].name == "image classification"
    assert by_id[rel.tail_id].name == "convolutional neural network"
    assert rel.extractor == "trained" and 0 < rel.confidence <= 1
    ev = rel.evidence[0]
    assert text[ev.start - 100 : ev.end - 100] == ev.text
    assert all(rs.relation.type != "RELATED_TO" for rs in result.relations)


def test_kg_train_without_the_train_extra_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from typer.testing import CliRunner\n"
        "from app.cli import app\n"
        "r = CliRunner().invoke(app, ['train', '--max-steps', '1'])\n"
        "print(r.exit_code); print(r.output)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    code_line, *rest = done.stdout.splitlines()
    assert code_line == "2", done.stdout + done.stderr
    assert '".[train]"' in " ".join(rest) and "Traceback" not in done.stdout
