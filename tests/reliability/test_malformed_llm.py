"""Whatever the LLM answers, the LLM tier never crashes, keeps the trained graph, records the rest.

The tier asks one compact question a chunk (true/false per candidate pair, new relations by
entity index); these answers are random, wrapped in chatter, truncated or plain junk.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from kg.config import Settings
from kg.llm_cache import LLMCache
from kg.models import Chunk, Document, Entity, Evidence, Mention, Relation
from kg.ontology import load_ontology
from pipelines.extraction.llm_verify import VerifyClient, apply_verdicts
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.verify_prompt import plan_task

TEXT = ("Andrew Ng teaches Machine Learning on Coursera. The course covers PCA and K-means "
        "clustering, and I practised both in scikit-learn.")
DOC = Document.from_text("n.txt", TEXT)
CHUNK = Chunk.make(DOC.id, 0, 0, TEXT)
ONTOLOGY = load_ontology()


def _entity(name: str, type_: str) -> Entity:
    start = TEXT.index(name)
    m = Mention(chunk_id=CHUNK.id, doc_id=DOC.id, start=start, end=start + len(name), text=name)
    return Entity.make(name, type_, mentions=[m], source="trained")


def _rel(head: Entity, type_: str, tail: Entity, conf: float) -> RelationSpan:
    ev = Evidence(chunk_id=CHUNK.id, doc_id=DOC.id, start=0, end=len(TEXT), text=TEXT)
    rel = Relation.make(head.id, type_, tail.id, confidence=conf, extractor="trained",
                        evidence=[ev])  # fmt: skip
    hm, tm = head.mentions[0], tail.mentions[0]
    return RelationSpan(rel, (hm.start, hm.end), (tm.start, tm.end))


NG, ML, PCA, KM = (_entity("Andrew Ng", "Person"), _entity("Machine Learning", "Course"),
                   _entity("PCA", "Method"), _entity("K-means", "Method"))  # fmt: skip
RESULT = ChunkResult(
    chunk=CHUNK,
    entities=[NG, ML, PCA, KM],
    relations=[_rel(ML, "TAUGHT_BY", NG, 0.4), _rel(ML, "COVERS", PCA, 0.97)],
    candidates=[_rel(PCA, "IS_A", KM, 0.2)],
)
TASK = plan_task(RESULT, "n.txt", ONTOLOGY)

indices = st.integers(min_value=-2, max_value=8) | st.text(max_size=3) | st.none()
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(
    max_size=30)
news = st.fixed_dictionaries(
    {"h": indices, "r": st.sampled_from(["COVERS", "USES", "TAUGHT_BY", "BOGUS", ""]) | st.text(
        max_size=10), "t": indices}) | scalars
outputs = st.fixed_dictionaries(
    {"summary": st.text(max_size=50) | scalars,
     "verdicts": st.lists(st.booleans() | scalars, max_size=8) | scalars,
     "new": st.lists(news, max_size=40) | scalars})


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


def run_one(raw: str) -> ChunkResult:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content=raw)]))
    with tempfile.TemporaryDirectory() as tmp:
        entry = VerifyClient(ONTOLOGY, lambda: chat, LLMCache(Path(tmp)), "fake").ask(TASK)
    return apply_verdicts(copy.deepcopy(RESULT), TASK, entry, ONTOLOGY)  # it updates in place


def check(result: ChunkResult) -> None:
    ids = {e.id for e in result.entities}
    assert ids == {e.id for e in RESULT.entities}  # the tier never invents or drops entities
    for rs in result.relations:
        r = rs.relation
        assert r.head_id in ids and r.tail_id in ids and r.head_id != r.tail_id
        assert r.type in ONTOLOGY.relation_names
        for ev in r.evidence:
            assert 0 <= ev.start < ev.end <= len(TEXT) and TEXT[ev.start : ev.end] == ev.text
    sure = [rs.relation.id for rs in RESULT.relations if rs.relation.confidence > 0.9]
    assert set(sure) <= {rs.relation.id for rs in result.relations}  # a sure relation stays
    for rej in result.rejected:
        json.dumps(rej.model_dump())  # always serialisable for rejected.jsonl


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=outputs, style=st.integers(min_value=0, max_value=4))
def test_random_outputs_never_crash(output: dict[str, Any], style: int) -> None:
    check(run_one(wrap(json.dumps(output), style)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.text(max_size=200) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_never_crashes(junk: str) -> None:
    result = run_one(junk)
    check(result)


def test_junk_keeps_the_trained_graph_and_is_recorded() -> None:
    result = run_one("Sorry, I cannot help with that.")
    check(result)
    kept = [rs.relation.id for rs in result.relations]
    assert kept == [rs.relation.id for rs in RESULT.relations]
    assert result.rejected and "LLM tier" in result.rejected[0].reason


def test_a_valid_answer_among_chatter_is_applied() -> None:
    pairs = len(TASK.pairs)
    answer = {"summary": "ok", "verdicts": [False] * pairs, "new": [{"h": 9, "r": "X", "t": 1}]}
    result = run_one(f"Here you go:\n```json\n{json.dumps(answer)}\n```")
    check(result)
    assert len(result.relations) < len(RESULT.relations)  # the uncertain TAUGHT_BY is dropped


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


def test_a_lone_surrogate_in_the_answer_is_cached_and_applied() -> None:
    """JSON may escape a lone surrogate ("\\ud800"); the checkpoint must still be written."""
    result = run_one('{"summary": "bad \\ud800 text", "verdicts": [true, true], "new": []}')
    check(result)
