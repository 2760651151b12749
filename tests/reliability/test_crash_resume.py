"""SIGKILL `kg extract` and `kg load` part-way, re-run, and get exactly what one clean run gives."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_llm_server import FakeLLM

OUTPUTS = ("documents", "chunks", "entities", "relations", "summaries")
TOPICS = [
    ("Linear Regression", "Andrew Ng", "Coursera", "NumPy"),
    ("Gradient Descent", "Geoffrey Hinton", "Toronto", "PyTorch"),
    ("Principal Component Analysis", "Aurelien Geron", "OReilly", "Scikit"),
    ("Attention Mechanism", "Ashish Vaswani", "Google", "TensorFlow"),
    ("Random Forests", "Leo Breiman", "Berkeley", "Pandas"),
]


def make_corpus(root: Path) -> Path:
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    for i, (topic, person, org, tool) in enumerate(TOPICS):
        paragraphs = []
        for j in range(6):
            paragraphs.append(
                f"Day {i * 10 + j}: today I studied {topic} again. {person} from {org} explains "
                f"it clearly, and I tried it in {tool} on a small dataset. "
                + " ".join(
                    rng.choice(["loss", "weights", "bias", "batch", "epoch"]) for _ in range(60)
                )
            )
        (root / f"notes_{i}.md").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return root


def kg_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def env_for(workspace: Path, llm: FakeLLM | None = None) -> dict[str, str]:
    env = {**os.environ, "KG_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    if llm is not None:
        env["KG_LLM_BASE_URL"] = llm.base_url
        env["KG_LLM_MODEL"] = "fake"
    return env


def run_kg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kg_cmd(*args), env=env, check=True, capture_output=True, text=True, timeout=600
    )


def outputs(workspace: Path) -> dict[str, bytes]:
    return {n: (workspace / f"{n}.jsonl").read_bytes() for n in OUTPUTS}


def test_killed_extract_resumes_to_the_same_workspace(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    clean = tmp_path / "clean"
    with FakeLLM() as llm:
        run_kg(env_for(clean, llm), "extract", str(corpus))
        total = llm.requests
    assert total >= 5

    crashed = tmp_path / "crashed"
    kill_at = total // 2
    proc: subprocess.Popen[bytes] | None = None

    def kill(n: int) -> None:
        if n == kill_at and proc is not None:
            os.kill(proc.pid, signal.SIGKILL)

    with FakeLLM(on_request=kill) as llm:
        proc = subprocess.Popen(
            kg_cmd("extract", str(corpus)),
            env=env_for(crashed, llm),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert proc.wait(timeout=600) == -signal.SIGKILL
    assert not any(p.suffix == ".tmp" for p in crashed.glob("*.jsonl*"))

    with FakeLLM() as llm:
        run_kg(env_for(crashed, llm), "extract", str(corpus))
        redone = llm.requests
    assert outputs(crashed) == outputs(clean)
    assert redone <= total - (kill_at - 1), (redone, total, kill_at)

    with FakeLLM() as llm:  # and an unchanged corpus costs nothing
        run_kg(env_for(crashed, llm), "extract", str(corpus))
        assert llm.requests == 0


def store_counts(workspace: Path) -> dict[str, int]:
    proc = run_kg(env_for(workspace), "status", "--json")
    return json.loads(proc.stdout)["store_counts"]


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_killed_load_resumes_to_exact_counts(tmp_path: Path, delay: float) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    ws = tmp_path / ".kg"
    run_kg(env_for(ws), "extract", str(corpus), "--spacy-only")
    proc = subprocess.Popen(
        kg_cmd("load"), env=env_for(ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=60)
    run_kg(env_for(ws), "load")
    first = store_counts(ws)
    run_kg(env_for(ws), "load")
    assert store_counts(ws) == first
    manifest = json.loads((ws / "manifest.json").read_text())
    assert first["Document"] == manifest["counts"]["documents"]
    assert first["Chunk"] == manifest["counts"]["chunks"]
    assert first["Entity"] == manifest["counts"]["entities"]
