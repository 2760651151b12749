"""Summaries for every document without the LLM (extractive map-reduce with sentence spans),
replaced by the LLM's where the tier ran, and overview questions answered from them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from kg.config import Settings
from kg.models import Document, Summary
from kg.workspace import Workspace

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "notes"

WRAPPED = (
    "# Week 2 log\n\n"
    "This week I finished the second module of the statistics course, which was about\n"
    "hypothesis testing and confidence intervals for the mean of a population.\n\n"
    "- compared two groups of cyclists with a t-test and found no real difference\n"
    "- plotted the bootstrap distribution of the median with Matplotlib\n\n"
    "## Reading\n\n"
    "I read the chapter on Bayesian inference in Think Stats. It explains priors with a\n"
    "dice example, e.g. a six-sided die, which made the idea of a posterior click for me.\n"
    "Next week the course moves on to linear regression and residual plots.\n"
)
TABLE = (
    "Days | Topics Covered | Resources |\n"
    "---|---|---|\n"
    "Day1 | Supervised learning, regression and classification basics | ML Specialization |\n"
    "Day2 | Univariate linear regression and the squared error cost | ML Specialization |\n"
    "Day3 | Gradient descent with a fixed learning rate on housing prices | ML Specialization |\n\n"
    "Gradient descent repeats small steps against the gradient until the cost stops falling.\n"
)
ONE_LINE = "Grokking Machine Learning is a book by Luis Serrano about practical models.\n"


def fixture_corpus(root: Path) -> Path:
    """Three documents of my own: wrapped prose with lists, a table log, a one-line note."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "wrapped.md").write_text(WRAPPED, encoding="utf-8")
    (root / "table.md").write_text(TABLE, encoding="utf-8")
    (root / "one.txt").write_text(ONE_LINE, encoding="utf-8")
    return root


def extract(source: Path, ws_dir: Path, **kw: Any) -> Workspace:
    from pipelines.extraction.pipeline import run_extract

    settings = Settings(workspace=ws_dir, llm_mode="off", **kw)
    ws = Workspace(ws_dir)
    run_extract([source], ws, settings, progress=False)
    return ws


def check_summaries(ws: Workspace) -> list[Summary]:
    """Every document has map (level 0) and reduce summaries, one at the top level, each made
    of verbatim sentences whose spans are in the document."""
    from pipelines.summarize_extractive import split_sentences

    docs: dict[str, Document] = {d.id: d for d in ws.read("documents")}
    chunks = {c.id: c for c in ws.read("chunks")}
    summaries = ws.read("summaries")
    ids = {s.id for s in summaries}
    assert {s.doc_id for s in summaries} == set(docs)
    for doc_id, doc in docs.items():
        mine = [s for s in summaries if s.doc_id == doc_id]
        levels = {s.level for s in mine}
        assert 0 in levels and max(levels) >= 1, doc.path
        assert len([s for s in mine if s.level == max(levels)]) == 1  # one document summary
        sentences = {(x.start, x.end) for x in split_sentences(doc.text)}
        for s in mine:
            assert s.method == "extractive" and s.spans
            assert s.spans == sorted(s.spans)
            assert " ".join(doc.text[a:b] for a, b in s.spans) == s.text
            for a, b in s.spans:
                assert (a, b) in sentences  # a whole sentence, never a fragment
                assert doc.text[a:b] == doc.text[a:b].strip()
            assert s.source_chunk_ids and all(c in chunks for c in s.source_chunk_ids)
            assert all(x in ids for x in s.source_summary_ids)
            if s.level == 0:
                (chunk,) = (chunks[c] for c in s.source_chunk_ids)
                assert all(chunk.start <= (a + b) // 2 < chunk.end for a, b in s.spans)
            else:
                assert s.source_summary_ids
    return summaries


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return extract(EXAMPLES, tmp_path_factory.mktemp("notes") / ".kg")


def test_every_example_note_gets_map_and_reduce_summaries_with_llm_off(notes: Workspace) -> None:
    summaries = check_summaries(notes)
    assert len({s.doc_id for s in summaries}) == 3
    text = " ".join(s.text for s in summaries)
    assert "K-means" in text  # the notes' subject is in what was kept


def test_a_three_document_fixture_with_several_reduce_levels(tmp_path: Path) -> None:
    """Small chunks force several map summaries per document and a reduce over reduces."""
    root = fixture_corpus(tmp_path / "notes")
    ws = extract(root, tmp_path / ".kg", chunk_size=120, chunk_overlap=10)
    summaries = check_summaries(ws)
    by_doc = {d.path: d.id for d in ws.read("documents")}
    wrapped = [s for s in summaries if s.doc_id == by_doc["wrapped.md"]]
    assert len([s for s in wrapped if s.level == 0]) > 4  # more than one reduce takes
    doc = next(d for d in ws.read("documents") if d.path == "wrapped.md")
    picked = {doc.text[a:b] for s in wrapped for a, b in s.spans}
    assert len({s.level for s in wrapped}) >= 3  # map, a reduce of maps, the document's
    assert not any(t.startswith(("#", "-")) for t in picked)  # no headings, no list markers
    table = next(d for d in ws.read("documents") if d.path == "table.md")
    rows = {table.text[a:b] for s in summaries if s.doc_id == table.id for a, b in s.spans}
    assert rows and not any(r.startswith("---") for r in rows)
    one = [s for s in summaries if s.doc_id == by_doc["one.txt"]]
    assert {s.text for s in one} == {ONE_LINE.strip()}


def test_rerun_writes_the_same_summaries(tmp_path: Path) -> None:
    root = fixture_corpus(tmp_path / "notes")
    ws = extract(root, tmp_path / ".kg", chunk_size=120, chunk_overlap=10)
    before = (ws.root / "summaries.jsonl").read_bytes()
    from pipelines.extraction import summaries as stage

    stage._EXTRACTIVE.clear()  # recompute, as a new process would
    extract(root, tmp_path / ".kg", chunk_size=120, chunk_overlap=10)
    assert (ws.root / "summaries.jsonl").read_bytes() == before


def test_llm_summaries_replace_the_extractive_ones_where_the_tier_ran() -> None:
    from kg.chunking import chunk_document
    from kg.llm_cache import LLMCache
    from kg.models import LLMUsage
    from pipelines.extraction.results import ChunkResult
    from pipelines.extraction.summaries import map_only, summarize_documents

    doc = Document.from_text("wrapped.md", WRAPPED)
    other = Document.from_text("table.md", TABLE)
    chunks = {d.id: chunk_document(d, size=200, overlap=20) for d in (doc, other)}
    results = {c.id: ChunkResult(chunk=c) for cs in chunks.values() for c in cs}
    answered = chunks[doc.id][:2]
    for c in answered:
        results[c.id].summary = f"LLM says: part {c.index} of the week 2 log."
    chat = FakeListChatModel(responses=["LLM reduce: a week of statistics and reading."])
    settings = Settings(llm_mode="on")

    class NoCache(LLMCache):
        def __init__(self) -> None:
            pass

        def get(self, key: str) -> None:
            return None

        def put(self, key: str, value: Any) -> None:
            pass

    out = summarize_documents(
        [doc, other], chunks, results, lambda: chat, NoCache(), settings, LLMUsage(),
        complete={doc.id},
    )  # fmt: skip
    mine = [s for s in out if s.doc_id == doc.id]
    llm_maps = [s for s in mine if s.level == 0 and s.method == "llm"]
    assert {c for s in llm_maps for c in s.source_chunk_ids} == {c.id for c in answered}
    for s in llm_maps:  # an LLM summary cites the chunk it read
        (chunk,) = (c for c in answered if c.id in s.source_chunk_ids)
        assert s.spans == [(chunk.start, chunk.end)]
    extractive_maps = [s for s in mine if s.level == 0 and s.method == "extractive"]
    assert {c for s in extractive_maps for c in s.source_chunk_ids} == {
        c.id for c in chunks[doc.id][2:]
    }  # the chunks the tier did not summarise keep theirs
    reduce = [s for s in mine if s.level >= 1]
    assert [s.text for s in reduce] == ["LLM reduce: a week of statistics and reading."]
    assert reduce[0].method == "llm"
    # the document the tier did not finish keeps its extractive reduce, as does every
    # document before the reduce runs (the write made while the tier is still going)
    assert {s.method for s in out if s.doc_id == other.id} == {"extractive"}
    early = map_only([doc], chunks, results)
    assert {s.method for s in early if s.level >= 1} == {"extractive"}
    assert len([s for s in early if s.level == 0 and s.method == "llm"]) == 2


def test_overview_passages_are_summary_sentences_with_their_spans(notes: Workspace) -> None:
    from kg.models import SearchHit
    from kg.summaries import overview_passages

    docs = {d.id: d for d in notes.read("documents")}
    chunks = {c.id: c for c in notes.read("chunks")}
    summaries = notes.read("summaries")
    day12 = next(d for d in docs.values() if d.path.endswith("day_12_unsupervised_learning.md"))
    first = min((c for c in chunks.values() if c.doc_id == day12.id), key=lambda c: c.start)
    hit = SearchHit(chunk_id=first.id, doc_id=day12.id, path=day12.path, start=first.start,
                    end=first.end, text=first.text)  # fmt: skip
    general = overview_passages("What is this note about?", summaries, chunks, hits=[hit])
    top = max((s for s in summaries if s.doc_id == day12.id), key=lambda s: s.level)
    assert [(p.start, p.end) for p in general] == top.spans[: len(general)]
    for p in general:
        assert p.kind == "summary" and day12.text[p.start : p.end] == p.text
    week = overview_passages("What did I do in week 3?", summaries, chunks, hits=[hit])
    mapped = next(s for s in summaries if s.level == 0 and first.id in s.source_chunk_ids)
    assert [(p.start, p.end) for p in week] == mapped.spans
    assert overview_passages("What is this note about?", [], chunks, hits=[hit]) == []


def test_overview_questions_answer_cited_to_summary_sentences(notes: Workspace) -> None:
    """The current answer path, no LLM: an overview question cites the sentences of the
    summaries, each citation's span holding the sentence it shows."""
    from app.service import KG

    kg = KG(Settings(workspace=notes.root, graph_name="kgsum"), use_llm=False)
    docs = {d.id: d for d in notes.read("documents")}
    sentences = {
        (s.doc_id, a, b) for s in notes.read("summaries") for a, b in s.spans
    }
    for question in ("What is the note on unsupervised learning about?",
                     "What did I do in week 3?"):  # fmt: skip
        answer = kg.ask(question)
        assert answer.selected_by == "summary", answer
        cited = [c for c in answer.citations if (c.doc_id, c.start, c.end) in sentences]
        assert cited and len(cited) == len(answer.citations), (question, answer.citations)
        for c in cited:
            assert docs[c.doc_id].text[c.start : c.end] in answer.answer + c.snippet + c.text
    kg.close()
