"""Whatever the LLM answers, extraction never crashes, keeps valid items, records the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from kg.config import Settings
from kg.llm_cache import LLMCache
from kg.models import Chunk, Document
from kg.ontology import load_ontology
from pipelines.extraction.candidates import MentionFinder
from pipelines.extraction.llm import ChunkExtractor

TEXT = ("Andrew Ng teaches Machine Learning on Coursera. The course covers PCA and K-means "
        "clustering, and I practised both in scikit-learn.")
DOC = Document.from_text("n.txt", TEXT)
CHUNK = Chunk.make(DOC.id, 0, 0, TEXT)
ONTOLOGY = load_ontology()
CANDIDATES = MentionFinder(ONTOLOGY).find(CHUNK)
GOOD = {"name": "Andrew Ng", "type": "Person"}
GOOD_REL = {"head": "Machine Learning", "type": "TAUGHT_BY", "tail": "Andrew Ng",
            "evidence": "Andrew Ng teaches Machine Learning"}

names = st.sampled_from(["Andrew Ng", "PCA", "Coursera", "Ghost", "", "it", "K means",
                         "x" * 300, "scikit-learn", "42"]) | st.text(max_size=20)
types = st.sampled_from(["Person", "tool", "Course", "Unknown", "", "ORG", "Method"]) | st.text(
    max_size=10)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(
    max_size=30)
entities = st.fixed_dictionaries({"name": names, "type": types}) | scalars | st.dictionaries(
    st.text(max_size=8), scalars, max_size=4)
relations = st.fixed_dictionaries(
    {"head": names, "type": st.sampled_from(["USES", "covers", "TAUGHT_BY", "BOGUS", ""]) | types,
     "tail": names, "evidence": st.text(max_size=40)}) | scalars
outputs = st.fixed_dictionaries(
    {"summary": st.text(max_size=50) | scalars,
     "entities": st.lists(entities, max_size=60) | scalars,
     "relations": st.lists(relations, max_size=60) | scalars})


def wrap(payload: str, style: int) -> str:
    if style == 1:
        return f"```json\n{payload}\n```"
    if style == 2:
        return f"<think>hmm {{ not json</think>\n{payload}"
    if style == 3:
        return payload[: max(1, len(payload) * 2 // 3)]  # truncated
    if style == 4:
        return "Sure! Here is the JSON: " + payload + " Hope it helps."
    return payload


def run_one(raw_answers: list[str], tmp: Path) -> Any:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content=a) for a in raw_answers]))
    extractor = ChunkExtractor(ONTOLOGY, lambda: chat, LLMCache(tmp), "fake")
    return extractor.extract(CHUNK, CANDIDATES, "Document: n.txt")


def check(result: Any) -> None:
    ids = {e.id for e in result.entities}
    for e in result.entities:
        assert e.type in ONTOLOGY.entity_names
        for m in e.mentions:
            assert TEXT[m.start : m.end] == m.text
    for rs in result.relations:
        r = rs.relation
        assert r.head_id in ids and r.tail_id in ids and r.head_id != r.tail_id
        assert r.type in ONTOLOGY.relation_names
        ev = r.evidence[0]
        assert 0 <= ev.start < ev.end <= len(TEXT) and TEXT[ev.start : ev.end] == ev.text
    for rej in result.rejected:
        json.dumps(rej.model_dump())  # always serialisable for rejected.jsonl


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(output=outputs, style=st.integers(min_value=0, max_value=4))
def test_random_outputs_never_crash(output: dict[str, Any], style: int, tmp_path: Path) -> None:
    raw = wrap(json.dumps(output), style)
    check(run_one([raw, raw], tmp_path / "cache"))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(junk=st.text(max_size=200) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_never_crashes(junk: str, tmp_path: Path) -> None:
    check(run_one([junk, junk], tmp_path / "cache"))


def test_valid_items_survive_among_bad_ones(tmp_path: Path) -> None:
    answer = {"summary": "ok", "entities": [GOOD, {"name": "Ghost", "type": "Person"},
                                            {"name": "Machine Learning", "type": "Course"},
                                            {"name": 5}, "PCA", None],
              "relations": [GOOD_REL, {"head": "Ghost", "type": "USES", "tail": "PCA"}, 7]}
    result = run_one([f"```json\n{json.dumps(answer)}\n```"], tmp_path)
    check(result)
    names = {e.name for e in result.entities}
    assert {"Andrew Ng", "PCA", "Machine Learning"} <= names and "Ghost" not in names
    assert [r.relation.type for r in result.relations] == ["TAUGHT_BY"]
    assert len(result.rejected) == 5


def test_huge_arrays_are_bounded(tmp_path: Path) -> None:
    answer = {"entities": [GOOD] * 5000, "relations": [GOOD_REL] * 5000}
    result = run_one([json.dumps(answer)], tmp_path)
    check(result)
    assert len(result.entities) <= 3
    assert any("too many" in r.reason for r in result.rejected)


def test_think_block_and_truncation(tmp_path: Path) -> None:
    full = json.dumps({"summary": "s", "entities": [GOOD, {"name": "PCA", "type": "Method"},
                                                    {"name": "Coursera", "type": "Org"}]})
    cut = full[: full.index("Coursera") + 3]
    result = run_one([f"<think>Let me think {{</think>{cut}"], tmp_path)
    check(result)
    assert {"Andrew Ng", "PCA"} <= {e.name for e in result.entities}


def test_unusable_llm_tier_answer_keeps_the_graph_and_records_it(tmp_path: Path) -> None:
    from kg.workspace import Workspace
    from pipelines.extraction.pipeline import run_extract

    (tmp_path / "n.txt").write_text(TEXT + " " + TEXT, encoding="utf-8")  # long enough to ask
    chat = GenericFakeChatModel(messages=iter([AIMessage(content="no")]))
    ws = Workspace(tmp_path / "ws")
    manifest = run_extract([tmp_path / "n.txt"], ws, Settings(llm_mode="on"), progress=False,
                           chat=chat)  # fmt: skip
    assert manifest.counts["entities"] > 0 and manifest.llm_coverage.done == 1
    (rejected,) = ws.read("rejected")
    assert rejected.kind == "output" and "LLM tier" in rejected.reason
