"""One real run of the LLM tier (offline Qwen2.5-Coder-1.5B via llama.cpp) on the smallest seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.config import Settings
from kg.llm_cache import LLMCache
from kg.models import normalize_name
from kg.workspace import Workspace
from pipelines.extraction.pipeline import run_extract
from pipelines.extraction.verify_prompt import MAX_OUTPUT_TOKENS

SEED = (Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"
        / "000_4485d3515797c64c.txt")


@pytest.mark.llm
@pytest.mark.timeout(3600)
def test_offline_llm_tier_verifies_the_smallest_seed(tmp_path: Path) -> None:
    if not SEED.is_file():
        pytest.skip(f"seed corpus not found at {SEED}")
    ws = Workspace(tmp_path / "ws")
    settings = Settings.from_env(llm_timeout=1800.0, llm_mode="on")
    manifest = run_extract([SEED], ws, settings, progress=False)
    cov = manifest.llm_coverage
    assert cov.state == "complete" and cov.done == cov.needed >= 1
    assert manifest.llm_usage.calls >= cov.needed
    # constrained decoding: every answer parses and fits its chunk's candidate list
    assert not [r for r in ws.read("rejected") if "LLM tier" in r.reason]
    answers = [value for _, value in LLMCache.for_workspace(ws.root).items()]
    verify = [a for a in answers if "verdicts" in (a.get("parsed") or {})]
    assert len(verify) == cov.needed
    assert all(a["usage"]["completion_tokens"] <= MAX_OUTPUT_TOKENS for a in verify)

    entities = {e.id: e for e in ws.read("entities")}
    docs = {d.id: d for d in ws.read("documents")}
    chunks = {c.id: c for c in ws.read("chunks")}
    names = {normalize_name(e.name) for e in entities.values()}
    assert names & {"factor analysis", "eigenvalues", "eigenvalue", "pca"}, sorted(names)
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
    assert any(s.level == 0 and len(s.text.split()) >= 4 for s in summaries)
    if len([s for s in summaries if s.level == 0]) > 1:
        assert any(s.level >= 1 for s in summaries)

    again = run_extract([SEED], ws, settings, progress=False)
    assert again.llm_usage.calls == 0
