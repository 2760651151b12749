"""The extraction stage with fake chat models: validation, files, cache, retries, modes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.workspace import Workspace
from pipelines.extraction.pipeline import run_extract
from tests.fake_verify import VerifyChat

OUTPUTS = ("documents", "chunks", "entities", "relations", "summaries", "rejected", "merges")
_CAPS = re.compile(r"\b[A-Z][A-Za-z-]{2,}(?: [A-Z][A-Za-z-]{2,})*\b")


def corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.md").write_text(
        "Day 1. The course Practical Machine Learning covered K-means clustering.\n\n"
        + "Dr Lena Okafor teaches Practical Machine Learning. " * 40
        + "\n\nI used Scikit-learn for PCA.", encoding="utf-8")
    (root / "b.txt").write_text("Grokking Machine Learning is a Book by Luis Serrano.\n",
                                encoding="utf-8")
    (root / "c.txt").write_text("Another note about Matplotlib and Pandas plots.\n",
                                encoding="utf-8")
    return root


def settings(**kw: Any) -> Settings:
    kw.setdefault("llm_mode", "on")
    return Settings(chunk_size=kw.pop("chunk_size", 400), chunk_overlap=40, **kw)


def files(ws: Path) -> dict[str, bytes]:
    return {n: (ws / f"{n}.jsonl").read_bytes() for n in OUTPUTS}


def check_graph(ws: Workspace) -> None:
    docs = {d.id: d for d in ws.read("documents")}
    chunks = {c.id: c for c in ws.read("chunks")}
    entities = {e.id: e for e in ws.read("entities")}
    for c in chunks.values():
        assert docs[c.doc_id].text[c.start : c.end] == c.text
    for e in entities.values():
        assert e.mentions
        for m in e.mentions:
            assert docs[m.doc_id].text[m.start : m.end] == m.text
            chunk = chunks[m.chunk_id]
            assert chunk.start <= m.start and m.end <= chunk.end
    for r in ws.read("relations"):
        assert r.head_id in entities and r.tail_id in entities
        assert r.evidence
        for ev in r.evidence:
            chunk = chunks[ev.chunk_id]
            assert chunk.start <= ev.start < ev.end <= chunk.end
            assert docs[ev.doc_id].text[ev.start : ev.end] == ev.text


# ---------------------------------------------------------------- the stage


def test_run_extract_writes_a_consistent_graph(tmp_path: Path) -> None:
    root = corpus(tmp_path / "notes")
    ws = Workspace(tmp_path / "ws")
    chat = VerifyChat()
    manifest = run_extract([root], ws, settings(), progress=False, chat=chat)
    assert manifest.counts["documents"] == 3
    assert manifest.counts["chunks"] > 3
    assert manifest.counts["entities"] > 5
    assert manifest.counts["relations"] >= 1
    assert manifest.llm_usage.calls == chat.calls > 0
    assert manifest.llm_coverage.state == "complete"
    assert manifest.llm_coverage.done == manifest.llm_coverage.needed > 0
    assert manifest.config_hash == settings().extraction_fingerprint()
    assert manifest.ontology == "default" and manifest.ontology_hash
    assert ws.manifest() == manifest
    check_graph(ws)
    summaries = ws.read("summaries")
    doc_a = next(d for d in ws.read("documents") if d.path == "a.md")
    reduced = [s for s in summaries if s.doc_id == doc_a.id and s.level >= 1]
    assert reduced and reduced[-1].source_summary_ids
    assert {s.level for s in summaries if s.doc_id == doc_a.id} >= {0, 1}
    # a one-line note has no pair to verify and nothing to condense: no call, no summary
    single = next(d for d in ws.read("documents") if d.path == "b.txt")
    assert [s for s in summaries if s.doc_id == single.id] == []
    assert all(single.text.strip() not in p for p in chat.prompts)


def test_second_run_makes_no_calls_and_same_files(tmp_path: Path) -> None:
    root = corpus(tmp_path / "notes")
    ws = Workspace(tmp_path / "ws")
    first = VerifyChat()
    run_extract([root], ws, settings(), progress=False, chat=first)
    before = files(ws.root)
    second = VerifyChat()
    manifest = run_extract([root], ws, settings(), progress=False, chat=second)
    assert second.calls == 0
    assert manifest.llm_usage.calls == 0 and manifest.llm_usage.cached > 0
    assert files(ws.root) == before


def test_changed_file_reextracts_only_its_chunks_and_deleted_file_vanishes(tmp_path: Path) -> None:
    root = corpus(tmp_path / "notes")
    ws = Workspace(tmp_path / "ws")
    run_extract([root], ws, settings(), progress=False, chat=VerifyChat())
    (root / "b.txt").write_text(
        "Grokking Machine Learning was written by Luis Serrano, who explains eigenvalues, "
        "eigenvectors and the covariance matrix with drawings and short Python examples, then "
        "walks through principal component analysis on a small table of house prices.\n",
        encoding="utf-8")
    (root / "c.txt").unlink()
    chat = VerifyChat()
    manifest = run_extract([root], ws, settings(), progress=False, chat=chat)
    assert chat.calls == 1  # b.txt is one chunk; a.md is cached
    assert manifest.counts["documents"] == 2
    names = {e.name for e in ws.read("entities")}
    assert "Matplotlib" not in names and "Pandas" not in names
    assert not any(m.doc_id not in {d.id for d in ws.read("documents")}
                   for e in ws.read("entities") for m in e.mentions)
    check_graph(ws)


def test_unusable_answer_is_recorded_and_the_trained_graph_kept(tmp_path: Path) -> None:
    root = corpus(tmp_path / "notes")
    plain, garbled = Workspace(tmp_path / "plain"), Workspace(tmp_path / "garbled")
    run_extract([root], plain, settings(llm_mode="off"), progress=False)
    chat = VerifyChat(garbage=True)
    manifest = run_extract([root], garbled, settings(), progress=False, chat=chat)
    assert chat.calls == manifest.llm_coverage.needed > 0
    rejected = garbled.read("rejected")
    assert len(rejected) == chat.calls and all(r.kind == "output" for r in rejected)
    assert all("LLM tier" in r.reason for r in rejected)
    assert garbled.read("relations") == plain.read("relations")
    check_graph(garbled)


def test_spacy_only_makes_no_llm_calls(tmp_path: Path) -> None:
    root = corpus(tmp_path / "notes")
    ws = Workspace(tmp_path / "ws")
    chat = VerifyChat()
    manifest = run_extract([root], ws, settings(), spacy_only=True, progress=False, chat=chat)
    assert chat.calls == 0 and manifest.llm_usage.calls == 0
    assert manifest.models["llm"].startswith("none")
    assert manifest.counts["entities"] > 0 and manifest.counts["relations"] > 0
    assert ws.read("summaries") == []
    assert {r.extractor for r in ws.read("relations")} <= {
        "spacy-dep", "spacy-cooccurrence", "cue", "open"}
    check_graph(ws)


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = corpus(tmp_path / "notes")
    ws = Workspace(tmp_path / "ws")
    chat = VerifyChat()
    manifest = run_extract([root], ws, settings(), dry_run=True, progress=False, chat=chat)
    assert chat.calls == 0
    assert not ws.root.exists()
    out = capsys.readouterr().out
    assert "a.md" in out and "est. LLM calls" in out
    assert manifest.counts == {}


def test_concurrency_gives_the_same_output(tmp_path: Path) -> None:
    root = corpus(tmp_path / "notes")
    one, many = Workspace(tmp_path / "one"), Workspace(tmp_path / "many")
    run_extract([root], one, settings(), progress=False, chat=VerifyChat())
    run_extract([root], many, settings(llm_concurrency=3), progress=False, chat=VerifyChat())
    assert files(one.root) == files(many.root)


@pytest.mark.parametrize("spacy_only", [False, True])
def test_rerun_parses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              spacy_only: bool) -> None:
    import pipelines.extraction.analysis as extract

    root = corpus(tmp_path / "notes")
    ws = Workspace(tmp_path / "ws")
    run_extract([root], ws, settings(), spacy_only=spacy_only, progress=False, chat=VerifyChat())
    before = files(ws.root)

    class NoSpacy:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("spaCy must not be loaded on an unchanged re-run")

    monkeypatch.setattr(extract, "MentionFinder", NoSpacy)
    run_extract([root], ws, settings(), spacy_only=spacy_only, progress=False, chat=VerifyChat())
    assert files(ws.root) == before
