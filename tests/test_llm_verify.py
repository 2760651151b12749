"""The LLM tier's compact question and answer: schema, mapping back to spans, resume, budget."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.models import Chunk, Document, Entity, Evidence, Mention, Relation
from kg.ontology import load_ontology
from kg.workspace import Workspace
from pipelines.extraction import refine
from pipelines.extraction.llm_verify import apply_verdicts
from pipelines.extraction.pipeline import run_extract
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.verify_prompt import (
    SURE,
    plan_task,
    user_prompt,
    verdict_schema,
)
from tests.fake_verify import VerifyChat

ONTOLOGY = load_ontology("default")
TEXT = (
    "Intro.\nWeek 3 of Practical ML covered K-means. K-means uses Euclidean distance.\n"
    "We compared K-means with DBSCAN on the toy data."
)


def _entity(doc: Document, chunk: Chunk, name: str, type_: str) -> Entity:
    start = doc.text.index(name)
    starts = [i for i in range(len(doc.text)) if doc.text.startswith(name, i)]
    mentions = [Mention(chunk_id=chunk.id, doc_id=doc.id, start=s, end=s + len(name), text=name)
                for s in starts]  # fmt: skip
    assert mentions[0].start == start
    return Entity.make(name, type_, mentions=mentions, source="trained")


def _rel(head: Entity, type_: str, tail: Entity, conf: float, chunk: Chunk) -> RelationSpan:
    hs, ts = head.mentions[0], tail.mentions[0]
    ev = Evidence(chunk_id=chunk.id, doc_id=chunk.doc_id, start=chunk.start, end=chunk.end,
                  text=chunk.text)  # fmt: skip
    rel = Relation.make(head.id, type_, tail.id, confidence=conf, extractor="trained",
                        evidence=[ev])  # fmt: skip
    return RelationSpan(rel, (hs.start, hs.end), (ts.start, ts.end))


@pytest.fixture
def chunk_result() -> tuple[Document, ChunkResult]:
    doc = Document.from_text("w3.md", TEXT)
    chunk = Chunk.make(doc.id, 0, 7, TEXT[7:])
    course = _entity(doc, chunk, "Practical ML", "Course")
    kmeans = _entity(doc, chunk, "K-means", "Method")
    dist = _entity(doc, chunk, "Euclidean distance", "Concept")
    dbscan = _entity(doc, chunk, "DBSCAN", "Method")
    result = ChunkResult(
        chunk=chunk,
        entities=[course, kmeans, dist, dbscan],
        relations=[
            _rel(kmeans, "USES", dist, 0.45, chunk),  # uncertain: asked
            _rel(kmeans, "CONJUNCTION", dbscan, 0.95, chunk),  # sure: skips the LLM
        ],
        candidates=[_rel(kmeans, "IS_A", dbscan, 0.2, chunk)],  # below threshold: asked
    )
    return doc, result


def test_prompt_lists_entities_and_only_uncertain_pairs(chunk_result: Any) -> None:
    _doc, result = chunk_result
    task = plan_task(result, "Week 3", ONTOLOGY)
    assert [e.name for e in task.entities] == ["Practical ML", "K-means", "Euclidean distance",
                                               "DBSCAN"]
    assert [rs.relation.type for rs in task.pairs] == ["USES", "IS_A"]  # most confident first
    assert task.skipped_sure == 1 and SURE <= 0.95
    prompt = user_prompt(task)
    assert "E2 K-means [Method]" in prompt
    assert "P1 E2 USES E3" in prompt and "P2 E2 IS_A E4" in prompt
    assert "CONJUNCTION" not in prompt


def test_schema_is_narrowed_to_the_chunk(chunk_result: Any) -> None:
    _doc, result = chunk_result
    task = plan_task(result, "Week 3", ONTOLOGY)
    schema = verdict_schema(task, ONTOLOGY).model_json_schema()
    verdicts = schema["properties"]["verdicts"]
    assert verdicts["minItems"] == verdicts["maxItems"] == 2
    assert verdicts["items"]["type"] == "boolean"
    new = schema["$defs"]["NewRelation"]["properties"]
    assert new["h"]["maximum"] == new["t"]["maximum"] == 4
    enum = set(new["r"]["enum"])
    # the LLM adds only what the trained tier cannot: COVERS yes, USES (a trained label) no
    assert "COVERS" in enum and "TAUGHT_BY" in enum
    assert not enum & {"USES", "IS_A", "RELATED_TO"}
    assert schema["properties"]["summary"]["maxLength"] <= 240
    model = verdict_schema(task, ONTOLOGY)
    with pytest.raises(ValueError):
        model.model_validate({"summary": "s", "verdicts": [True], "new": []})  # one short
    with pytest.raises(ValueError):
        model.model_validate({"summary": "s", "verdicts": [True, False],
                              "new": [{"h": 1, "r": "COVERS", "t": 9}]})  # no E9


def test_answer_maps_back_to_spans(chunk_result: Any) -> None:
    doc, result = chunk_result
    task = plan_task(result, "Week 3", ONTOLOGY)
    entry = {"parsed": {"summary": "Week 3 covered K-means.", "verdicts": [True, True],
                        "new": [{"h": 1, "r": "COVERS", "t": 2}]},
             "usage": {"calls": 1, "completion_tokens": 30}}  # fmt: skip
    out = apply_verdicts(result, task, entry, ONTOLOGY)
    assert out.summary == "Week 3 covered K-means."
    by_type = {rs.relation.type: rs for rs in out.relations}
    # the candidate judged true stays out (ACCEPT_CANDIDATES is off), the sure one is kept
    assert set(by_type) == {"USES", "CONJUNCTION", "COVERS"}
    assert by_type["USES"].relation.extractor == "trained+llm"
    assert by_type["USES"].relation.confidence >= 0.9
    covers = by_type["COVERS"]
    assert covers.relation.extractor == "llm"
    assert doc.text[slice(*covers.head_span)] == "Practical ML"
    assert doc.text[slice(*covers.tail_span)] == "K-means"
    (ev,) = covers.relation.evidence
    assert doc.text[ev.start : ev.end] == ev.text == "Week 3 of Practical ML covered K-means."
    assert out.candidates == [] and out.usage.calls == 1


def test_false_drops_and_bad_answers_change_nothing(chunk_result: Any) -> None:
    _doc, result = chunk_result
    task = plan_task(result, "Week 3", ONTOLOGY)
    before = [rs.relation.id for rs in result.relations]
    bad = {"parsed": {"summary": "s", "verdicts": [True], "new": []}, "error": "short"}
    same = apply_verdicts(result, task, bad, ONTOLOGY)
    assert [rs.relation.id for rs in same.relations] == before
    assert same.rejected and "LLM tier" in same.rejected[0].reason
    # false drops the uncertain USES; a COVERS whose head is no course is refused
    entry = {"parsed": {"summary": "s", "verdicts": [False, False],
                        "new": [{"h": 2, "r": "COVERS", "t": 3}]}}  # fmt: skip
    out = apply_verdicts(same, task, entry, ONTOLOGY)
    assert {rs.relation.type for rs in out.relations} == {"CONJUNCTION"}


def test_a_confident_trained_relation_outvotes_a_false(chunk_result: Any) -> None:
    from pipelines.extraction.llm_verify import DROP_BELOW

    _doc, result = chunk_result
    result.relations[0].relation.confidence = DROP_BELOW + 0.1
    task = plan_task(result, "Week 3", ONTOLOGY)
    entry = {"parsed": {"summary": "s", "verdicts": [False, False], "new": []}}
    out = apply_verdicts(result, task, entry, ONTOLOGY)
    assert {rs.relation.type for rs in out.relations} == {"USES", "CONJUNCTION"}


class Interrupting(VerifyChat):
    """Ctrl-C arrives during the third call."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> Any:  # fmt: skip
        if self.calls == 2:
            self.calls += 1
            raise KeyboardInterrupt
        return super()._generate(messages, stop, run_manager, **kwargs)


class Slow(VerifyChat):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.4)
        return super()._generate(*args, **kwargs)


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (root / f"day{i}.md").write_text(
            f"Day {i}. The course Practical Machine Learning covered K-means clustering and PCA. "
            + "K-means uses the Euclidean distance between points and centroids. " * 12,
            encoding="utf-8",
        )
    return root


def _settings(**kw: Any) -> Settings:
    return Settings(chunk_size=400, chunk_overlap=40, **{"llm_mode": "on", **kw})


def test_interrupted_tier_resumes_without_redoing_a_chunk(tmp_path: Path) -> None:
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    first = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        run_extract([root], ws, _settings(), progress=False, chat=first)
    partial = ws.manifest()
    assert partial is not None and partial.llm_coverage.state == "partial"
    assert partial.llm_coverage.done == 2 < partial.llm_coverage.needed
    assert ws.read("entities")  # the trained graph is there, loadable
    second = VerifyChat()
    manifest = run_extract([root], ws, _settings(), progress=False, chat=second)
    asked = [p for p in second.prompts if "Candidates:" in p]  # the rest are reduce calls
    assert len(asked) == manifest.llm_coverage.needed - 2
    assert not set(first.prompts[:2]) & set(asked)
    assert manifest.llm_coverage.state == "complete"


def test_budget_stops_the_tier_and_the_next_run_continues(tmp_path: Path) -> None:
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    chat = Slow()
    manifest = run_extract([root], ws, _settings(llm_budget_s=0.5), progress=False, chat=chat)
    cov = manifest.llm_coverage
    assert 1 <= chat.calls == cov.done < cov.needed and cov.state == "partial"
    # no LLM reduce over half a document (the extractive summaries cover every document)
    assert not any(s.level >= 1 and s.method == "llm" for s in ws.read("summaries"))
    rest = VerifyChat()
    manifest = run_extract([root], ws, _settings(), progress=False, chat=rest)
    assert len([p for p in rest.prompts if "Candidates:" in p]) == cov.needed - cov.done
    assert manifest.llm_coverage.state == "complete"


def test_auto_skips_a_long_tier_and_says_how_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(refine, "AUTO_LIMIT_S", 0.0)
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    chat = VerifyChat()
    manifest = run_extract([root], ws, _settings(llm_mode="auto"), progress=True, chat=chat)
    assert chat.calls == 0 and manifest.llm_coverage.state == "not run"
    assert manifest.counts["entities"] > 0
    err = capsys.readouterr().err
    assert "--llm on" in err and "--llm-budget" in err


def test_status_says_how_much_the_llm_tier_covered(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import app
    from app.render import coverage_md
    from kg.models import LLMCoverage

    assert coverage_md(LLMCoverage(needed=10, done=3, state="partial")).startswith(
        "3 of 10 chunks (30 %)")
    assert "off" in coverage_md(LLMCoverage(state="off"))
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    with pytest.raises(KeyboardInterrupt):
        run_extract([root], ws, _settings(), progress=False, chat=Interrupting())
    out = CliRunner().invoke(app, ["status", "--workspace", str(ws.root)]).output
    assert "LLM tier 2/" in out and "partial" in out
