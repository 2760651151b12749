"""``kg extract --workers N`` and ``--engine ray`` write the same workspace as one process.

The real spaCy model and the shipped trained model run in spawned worker processes (and in Ray
actors); the workspace files must match ``--workers 1`` byte for byte (issue 24, items 2-3).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.config import Settings
from kg.workspace import Workspace
from pipelines.extraction import workers
from pipelines.extraction.pipeline import run_extract
from pipelines.extraction.workers import shards

NOTES = Path(__file__).resolve().parents[1] / "examples" / "notes"
VOLATILE = {"created_at", "seconds"}


def _files(ws: Workspace) -> dict[str, bytes]:
    out = {p.name: p.read_bytes() for p in sorted(ws.root.glob("*.jsonl"))}
    manifest = json.loads(ws.manifest_path.read_text())
    out["manifest"] = json.dumps({k: v for k, v in manifest.items() if k not in VOLATILE},
                                 sort_keys=True).encode()  # fmt: skip
    return out


def _extract(tmp_path: Path, name: str, **kw: object) -> dict[str, bytes]:
    ws = Workspace(tmp_path / name / ".kg")
    settings = Settings(llm_mode="off", chunk_size=600)
    manifest = run_extract([NOTES], ws, settings, progress=False, **kw)  # type: ignore[arg-type]
    assert manifest.counts["chunks"] >= 8, "enough chunks for several shards"
    return _files(ws)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _extract(tmp_path_factory.mktemp("w1"), "w1", workers=1)


def test_two_workers_write_the_same_workspace_as_one(
    one_process: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "MIN_POOL_CHUNKS", 0)  # a pool even for this small corpus
    two = _extract(tmp_path, "w2", workers=2)
    assert two.keys() == one_process.keys()
    for name in one_process:
        assert two[name] == one_process[name], name
    assert b'"source":"trained"' in one_process["entities.jsonl"]


def test_a_rerun_reads_the_store_and_keeps_the_files_few(tmp_path: Path) -> None:
    first = _extract(tmp_path, "again", workers=2)
    second = _extract(tmp_path, "again", workers=2)
    assert first == second
    cache = tmp_path / "again" / ".kg" / "cache"
    assert sum(1 for p in cache.rglob("*") if p.is_file()) <= 4  # the store, its WAL, a log


def test_shards_cover_every_chunk_once_in_order() -> None:
    items = list(range(103))
    parts = shards(items, 2)  # type: ignore[arg-type]
    assert [x for p in parts for x in p] == items
    assert len(parts) >= 8 and max(map(len, parts)) <= 32


def test_ray_engine_writes_the_same_workspace(
    one_process: dict[str, bytes], tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    ray_files = _extract(tmp_path, "ray", workers=2, engine="ray")
    for name in one_process:
        assert ray_files[name] == one_process[name], name
