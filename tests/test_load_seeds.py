"""The real seed corpus, extracted with spaCy only (no LLM), loaded into the embedded FalkorDB:
exact counts, an idempotent second load, and every browser query running on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.config import Settings
from kg.cypher import browser_queries
from kg.store import open_store
from kg.store.rows import rows_from_workspace
from kg.workspace import Workspace
from pipelines.load import load_workspace

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"


@pytest.fixture(scope="module")
def seed_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    if not SEEDS.is_dir():
        pytest.skip(f"seed corpus not found at {SEEDS}")
    try:
        from pipelines.extraction.pipeline import run_extract
    except ImportError as exc:
        pytest.skip(f"pipelines.extraction.pipeline.run_extract is not importable yet: {exc}")
    root = tmp_path_factory.mktemp("seeds") / "ws"
    ws = Workspace(root)
    settings = Settings(workspace=root)
    run_extract(sorted(SEEDS.iterdir()), ws, settings, spacy_only=True, progress=False)
    return ws


def test_seed_corpus_loads_exactly(seed_workspace: Workspace) -> None:
    ws = seed_workspace
    n_docs = len(ws.read("documents"))
    assert n_docs == len([p for p in SEEDS.iterdir() if p.is_file()])
    with open_store(Settings(), ws) as store:
        report = load_workspace(ws, store, progress=False)
        assert report.written == report.expected
        assert report.written["Document"] == n_docs
        assert report.written["Chunk"] == len(ws.read("chunks"))
        assert report.written["Entity"] > 50 and report.written["MENTIONS"] > 100
        assert report.written == rows_from_workspace(ws).expected()

        again = load_workspace(ws, store, progress=False)
        assert again.mode == "unchanged" and again.written == report.written

        for q in browser_queries():
            assert isinstance(store.read(q.query, q.params), list), q.name
        top = store.read(next(q for q in browser_queries() if q.name == "top_entities").query,
                         {"top": 5})  # fmt: skip
        assert len(top) == 5
