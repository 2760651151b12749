"""Bad input gets one clear line and a non-zero exit, and nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def kg(
    *args: str, workspace: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "KG_WORKSPACE": str(workspace), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kg.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def test_help_explains_every_command(tmp_path: Path) -> None:
    proc = kg("--help", workspace=tmp_path / ".kg")
    assert proc.returncode == 0
    for command in ("extract", "load", "ask", "query", "serve", "status", "eval", "export"):
        assert command in proc.stdout


def test_missing_path_is_one_clear_line(tmp_path: Path) -> None:
    ws = tmp_path / ".kg"
    proc = kg("extract", str(tmp_path / "nope"), "--spacy-only", workspace=ws)
    assert proc.returncode == 1
    assert "no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (ws / "manifest.json").exists()


def test_empty_folder_fails_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ws = tmp_path / ".kg"
    proc = kg("extract", str(tmp_path / "empty"), "--spacy-only", workspace=ws)
    assert proc.returncode == 1
    assert "no readable documents" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_binary_skipped_and_bad_utf8_decoded(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (corpus / "latin1.txt").write_bytes(
        "Caf\xe9 notes: I studied PCA with Andrew Ng.".encode("latin-1")
    )
    (corpus / "good.txt").write_text("Today I learned K-means clustering in the ML course.\n")
    ws = tmp_path / ".kg"
    proc = kg("extract", str(corpus), "--spacy-only", workspace=ws)
    assert proc.returncode == 0, proc.stderr
    assert "image.png" in proc.stderr  # skipped, with a warning naming it
    docs = (ws / "documents.jsonl").read_text()
    assert "good.txt" in docs and "latin1.txt" in docs and "image.png" not in docs


def test_load_without_workspace_is_clear(tmp_path: Path) -> None:
    proc = kg("load", workspace=tmp_path / "none")
    assert proc.returncode == 1
    assert "kg extract" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_store_is_clear(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Notes about gradient descent and learning rates.\n")
    ws = tmp_path / ".kg"
    assert kg("extract", str(corpus), "--spacy-only", workspace=ws).returncode == 0
    proc = kg("load", workspace=ws, env={"KG_FALKORDB_URL": "redis://127.0.0.1:9"})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") <= 2
