"""`kg merges`: list, reject and accept merges; every later `kg extract` keeps the decision.

Runs the real CLI (real spaCy and trained tier) on a two-note corpus of its own, where the rules
merge "K-means" into "K-means clustering" (head noun, same note) and "PCA" into "Principal
component analysis" (acronym).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTES = {
    "a.md": "# Clustering day\n\nToday I ran K-means on the customer data. K-means clustering "
    "groups the points into k clusters, and the elbow method picks k.\n\nI also read about PCA "
    "in the Scikit-learn documentation.\n",
    "b.md": "# Reducing dimensions\n\nPrincipal component analysis projects the data onto the "
    "directions of largest variance.\n",
}


def kg(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KG_WORKSPACE": str(workspace), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env,
        timeout=600,
    )  # fmt: skip


def _names(ws: Path) -> dict[str, list[str]]:
    rows = [json.loads(line) for line in (ws / "entities.jsonl").read_text().splitlines()]
    return {e["name"]: e["aliases"] for e in rows}


def _merges(ws: Path) -> dict[str, dict]:
    proc = kg("merges", "--json", workspace=ws)
    assert proc.returncode == 0, proc.stderr
    return {(m["kept_name"], m["merged_name"]): m for m in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("merges")
    notes = root / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    ws = root / ".kg"
    proc = kg("extract", str(notes), "--llm", "off", workspace=ws)
    assert proc.returncode == 0, proc.stderr
    return notes, ws


def test_list_shows_applied_merges_with_their_reason(workspace: tuple[Path, Path]) -> None:
    _, ws = workspace
    merges = _merges(ws)
    kmeans = merges[("K-means clustering", "K-means")]
    assert kmeans["status"] == "applied" and kmeans["rule"] == "head-noun"
    assert "generic head noun" in kmeans["reason"]
    assert any("document" in e for e in kmeans["evidence"])
    assert merges[("Principal component analysis", "PCA")]["rule"] == "acronym"
    text = kg("merges", workspace=ws)
    assert kmeans["id"] in text.stdout and "head-noun" in text.stdout


def test_reject_then_rerun_keeps_them_apart_and_accept_merges_again(
    workspace: tuple[Path, Path],
) -> None:
    notes, ws = workspace
    merge_id = _merges(ws)[("K-means clustering", "K-means")]["id"]
    proc = kg("merges", "reject", merge_id, workspace=ws)
    assert proc.returncode == 0, proc.stderr
    assert "rejected" in proc.stdout
    for _ in range(2):  # the decision holds on every later run, not just the next one
        assert kg("extract", str(notes), "--llm", "off", workspace=ws).returncode == 0
        names = _names(ws)
        assert "K-means" in names and "K-means clustering" in names
        row = next(m for m in _merges(ws).values() if m["id"] == merge_id)
        assert (row["status"], row["decision"]) == ("rejected", "reject")
    # the other merge is untouched
    assert "PCA" in _names(ws)["Principal component analysis"]
    assert kg("merges", "accept", merge_id, workspace=ws).returncode == 0
    assert kg("extract", str(notes), "--llm", "off", workspace=ws).returncode == 0
    assert "K-means" not in _names(ws)
    row = next(m for m in _merges(ws).values() if m["id"] == merge_id)
    assert (row["status"], row["decision"]) == ("applied", "accept")
    decisions = json.loads((ws / "merge_decisions.json").read_text())
    assert decisions[merge_id]["decision"] == "accept"


def test_unknown_merge_id_is_one_clear_line(workspace: tuple[Path, Path]) -> None:
    _, ws = workspace
    proc = kg("merges", "accept", "merge_nope", workspace=ws)
    assert proc.returncode == 1
    assert "no merge 'merge_nope'" in proc.stderr and "Traceback" not in proc.stderr
