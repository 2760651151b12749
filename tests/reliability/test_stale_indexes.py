"""A running server notices a CLI `kg extract` + `kg load` of its workspace and never cites a
document that is gone (issue 25, item 4). The real facade behind the real API, the real CLI
in a subprocess, one embedded FalkorDB shared by both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kg.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "notes"
GONE = "day_14_running_clusters_project.md"


def _cli(ws: Path, *args: str) -> None:
    env = {**os.environ, "KG_WORKSPACE": str(ws), "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


@pytest.mark.timeout(900)
def test_serve_reloads_after_cli_extract_and_load(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from app.api import create_app
    from app.service import KG

    notes = tmp_path / "notes"
    shutil.copytree(NOTES, notes)
    ws = tmp_path / ".kg"
    _cli(ws, "extract", str(notes), "--spacy-only", "--no-trained")
    _cli(ws, "load")
    kg = KG(Settings(workspace=ws, trained=False), use_llm=False)
    try:
        client = TestClient(create_app(kg, mount_ui=False))
        question = {"question": "What did the running clusters project do?", "k": 8}
        before = client.post("/v1/ask", json=question).json()
        assert GONE in {c["path"] for c in before["citations"]}, before["citations"]
        (notes / GONE).unlink()
        _cli(ws, "extract", str(notes), "--spacy-only", "--no-trained")
        _cli(ws, "load")
        after = client.post("/v1/ask", json=question).json()
        assert after["citations"], after
        assert GONE not in {c["path"] for c in after["citations"]}, after["citations"]
        for c in after["citations"]:  # every cited span's link still opens
            page = client.get(f"/v1/documents/{c['doc_id']}", params={"start": c["start"]})
            assert page.status_code == 200, (c, page.text[:200])
        hits = client.post("/v1/search", json={"query": "running clusters project", "k": 20})
        assert GONE not in {h["path"] for h in hits.json()["hits"]}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready", ready
        assert ready["store_counts"]["Document"] == 2
    finally:
        kg.close()
