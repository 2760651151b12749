"""One real run of the offline LLM (Qwen2.5-Coder-1.5B via llama.cpp) on the smallest seed note."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.config import Settings
from kg.models import normalize_name
from kg.workspace import Workspace
from pipelines.extraction.pipeline import run_extract

SEED = (Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"
        / "000_4485d3515797c64c.txt")


@pytest.mark.llm
@pytest.mark.timeout(3600)
def test_offline_llm_extracts_the_smallest_seed(tmp_path: Path) -> None:
    if not SEED.is_file():
        pytest.skip(f"seed corpus not found at {SEED}")
    ws = Workspace(tmp_path / "ws")
    settings = Settings.from_env(llm_timeout=1800.0)
    manifest = run_extract([SEED], ws, settings, progress=False)
    assert manifest.llm_usage.calls >= manifest.counts["chunks"]

    entities = {e.id: e for e in ws.read("entities")}
    llm_entities = [e for e in entities.values() if e.source == "llm"]
    assert llm_entities, "the model produced no usable entity"
    spellings = {normalize_name(n) for e in entities.values() for n in (e.name, *e.aliases)}
    expected = {"grokking machine learning", "grokking ml", "factor analysis", "eigenvalues",
                "eigenvalue"}
    found = spellings & expected
    assert len(found) >= 2, sorted(spellings)

    docs = {d.id: d for d in ws.read("documents")}
    chunks = {c.id: c for c in ws.read("chunks")}
    for e in entities.values():
        for m in e.mentions:
            assert docs[m.doc_id].text[m.start : m.end] == m.text
    for r in ws.read("relations"):
        assert r.head_id in entities and r.tail_id in entities
        for ev in r.evidence:
            chunk = chunks[ev.chunk_id]
            assert chunk.start <= ev.start < ev.end <= chunk.end
            assert docs[ev.doc_id].text[ev.start : ev.end] == ev.text
    summaries = ws.read("summaries")
    assert any(s.level == 0 and s.text for s in summaries)
    if manifest.counts["chunks"] > 1:
        assert any(s.level >= 1 for s in summaries)

    again = run_extract([SEED], ws, settings, progress=False)
    assert again.llm_usage.calls == 0
