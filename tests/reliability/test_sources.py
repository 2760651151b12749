"""A workspace keeps its sources: re-extracting a folder, uploading after the folder moved, or
extracting a second folder never drops documents silently (issue 25, item 1).

Real extraction (spaCy only, no trained tier, so it is quick) into temporary workspaces; the
upload goes through the real ``KG.ingest`` and the real embedded store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kg.config import Settings
from kg.workspace import Workspace
from pipelines.extraction.pipeline import run_extract

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"


def _settings(ws: Path) -> Settings:
    return Settings(workspace=ws, trained=False, llm_mode="off", graph_name="kgsources")


def _copy_notes(dst: Path, names: list[str] | None = None) -> Path:
    dst.mkdir(parents=True)
    for f in sorted(NOTES.glob("*.md")):
        if names is None or f.name in names:
            shutil.copy(f, dst / f.name)
    return dst


def _paths(ws: Path) -> set[str]:
    return {d.path for d in Workspace(ws).iter("documents")}


def _extract(paths: list[Path], ws: Path, **kw: object) -> object:
    return run_extract(paths, Workspace(ws), _settings(ws), spacy_only=True, progress=False, **kw)


def test_extract_of_a_second_folder_adds_to_the_workspace(tmp_path: Path) -> None:
    a = _copy_notes(tmp_path / "a", ["day_12_unsupervised_learning.md"])
    b = _copy_notes(tmp_path / "b", ["day_13_book_and_scikit_learn.md"])
    ws = tmp_path / ".kg"
    _extract([a], ws)
    manifest = _extract([b], ws)
    assert _paths(ws) == {"day_12_unsupervised_learning.md", "day_13_book_and_scikit_learn.md"}
    assert manifest.sources == [str(a.resolve()), str(b.resolve())]
    assert manifest.removed == []
    # --replace makes b the only source, and says what it removed
    manifest = _extract([b], ws, replace=True)
    assert _paths(ws) == {"day_13_book_and_scikit_learn.md"}
    assert manifest.sources == [str(b.resolve())]
    assert [(r.path, r.source) for r in manifest.removed] == [
        ("day_12_unsupervised_learning.md", str(a.resolve()))
    ]
    assert "--replace" in manifest.removed[0].reason


def test_a_moved_source_folder_keeps_its_documents_and_is_reported(tmp_path: Path) -> None:
    notes = _copy_notes(tmp_path / "notes")
    ws = tmp_path / ".kg"
    _extract([notes], ws)
    before = _paths(ws)
    uploads = ws / "uploads"
    uploads.mkdir()
    (uploads / "extra.md").write_text("# Extra\n\nK-means clusters points by distance.\n")
    notes.rename(tmp_path / "moved")
    manifest = _extract([uploads], ws)
    assert _paths(ws) == before | {"extra.md"}
    assert manifest.missing_sources == [str(notes.resolve())]
    assert manifest.counts["documents"] == len(before) + 1
    assert manifest.removed == []


def test_deleting_a_file_inside_a_source_is_listed_as_a_removal(tmp_path: Path) -> None:
    notes = _copy_notes(tmp_path / "notes")
    ws = tmp_path / ".kg"
    _extract([notes], ws)
    (notes / "day_14_running_clusters_project.md").unlink()
    manifest = _extract([notes], ws)
    assert [r.path for r in manifest.removed] == ["day_14_running_clusters_project.md"]
    assert "day_14_running_clusters_project.md" not in _paths(ws)


def _kg(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"KG_WORKSPACE": str(ws), "NO_COLOR": "1", "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_cli_re_extract_keeps_an_upload_and_status_lists_sources_and_removals(
    tmp_path: Path,
) -> None:
    notes = _copy_notes(tmp_path / "notes")
    ws = tmp_path / ".kg"
    _extract([notes], ws)
    uploads = ws / "uploads"
    uploads.mkdir()
    (uploads / "chat_upload.md").write_text("# Upload\n\nDBSCAN finds dense regions.\n")
    _extract([uploads], ws)
    (notes / "day_12_unsupervised_learning.md").unlink()
    run = _kg(ws, "extract", str(notes), "--spacy-only", "--no-trained")
    assert run.returncode == 0, run.stderr
    assert "chat_upload.md" in _paths(ws)
    assert "removing document day_12_unsupervised_learning.md" in run.stderr
    status = _kg(ws, "status")
    assert f"source {uploads.resolve()}: 1 documents" in status.stdout, status.stdout
    assert "removed by the last extract: day_12_unsupervised_learning.md" in status.stderr
    data = json.loads(_kg(ws, "status", "--json").stdout)
    assert data["manifest"]["removed"][0]["path"] == "day_12_unsupervised_learning.md"


@pytest.mark.timeout(600)
def test_upload_after_the_notes_folder_moved_keeps_earlier_documents_in_the_store(
    tmp_path: Path,
) -> None:
    from app.service import KG
    from pipelines.load import load_workspace

    notes = _copy_notes(tmp_path / "notes")
    ws = tmp_path / ".kg"
    _extract([notes], ws)
    kg = KG(_settings(ws), use_llm=False)
    try:
        load_workspace(kg.workspace, kg.store, progress=False)
        before = kg.store.counts()["Document"]
        notes.rename(tmp_path / "elsewhere")
        upload = tmp_path / "new_note.md"
        upload.write_text("# New\n\nSpectral clustering uses eigenvectors.\n")
        manifest = kg.ingest([upload])
        assert manifest.counts["documents"] == before + 1
        assert kg.store.counts()["Document"] == before + 1
        assert manifest.missing_sources == [str(notes.resolve())]
    finally:
        kg.close()
