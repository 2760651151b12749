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
        [sys.executable, "-m", "app.cli", *args],
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


def test_help_shows_choices_and_ranges_without_placeholders(tmp_path: Path) -> None:
    ask = kg("ask", "--help", workspace=tmp_path / ".kg", env={"COLUMNS": "200"})
    assert ask.returncode == 0
    assert "hybrid|bm25|vector|graph|cypher" in ask.stdout
    assert "1<=x<=50" in ask.stdout  # -k's range
    extract = kg("extract", "--help", workspace=tmp_path / ".kg", env={"COLUMNS": "200"})
    assert "PATHS..." in extract.stdout
    for text in (ask.stdout, extract.stdout):
        assert "<bool>" not in text and "{" not in text


def test_bad_mode_and_k_are_rejected_by_the_cli(tmp_path: Path) -> None:
    ws = tmp_path / ".kg"
    for args in (
        ("search", "pca", "--mode", "bogus"),
        ("ask", "pca", "--mode", "bogus", "--no-llm"),
        ("ask", "pca", "-k", "0", "--no-llm"),
        ("ask", "pca", "-k", "-1", "--no-llm"),
        ("search", "pca", "-k", "-1"),
    ):
        proc = kg(*args, workspace=ws)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Invalid value" in proc.stderr and "Traceback" not in proc.stderr
    assert not ws.exists()


def test_missing_workspace_is_reported_not_created(tmp_path: Path) -> None:
    ws = tmp_path / "nope"
    for args in (("status",), ("query", "MATCH (n) RETURN count(n) AS n")):
        proc = kg(*args, workspace=ws)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
        assert not ws.exists()


def _loaded_workspace(tmp_path: Path) -> Path:
    from tests.test_load import write_workspace

    root = write_workspace(tmp_path / "ws").root
    loaded = kg("load", workspace=root)  # an empty store answers every read with no rows
    assert loaded.returncode == 0, loaded.stderr
    return root


def test_bad_cypher_is_one_line_and_exit_2(tmp_path: Path) -> None:
    ws = _loaded_workspace(tmp_path)
    top = Path(__file__).resolve().parents[1] / "cypher/browser/01_top_entities.cypher"
    cases = {
        top.read_text(encoding="utf-8"): "$top",  # the README's example, without -p top=…
        "MATCH (n) RETURN nosuchfunction(n) AS x": "nosuchfunction",
        "MATCH (n RETURN n": "rror",  # syntax error
    }
    for query, named in cases.items():
        proc = kg("query", query, workspace=ws)
        assert proc.returncode == 2, (query, proc.stderr)
        assert named in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
    ok = kg("query", top.read_text(encoding="utf-8"), "-p", "top=3", "--json", workspace=ws)
    assert ok.returncode == 0, ok.stderr
