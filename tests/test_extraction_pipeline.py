"""The extraction package's plumbing: per-chunk merging of extractors, plug-in stages, opt-ins."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kg.config import Settings
from kg.models import Chunk, Document, Entity, Evidence, Mention, Rejected, Relation
from kg.workspace import Workspace
from pipelines.extraction.merge import merge_results
from pipelines.extraction.pipeline import ExtractionPipeline, run_extract
from pipelines.extraction.results import ChunkResult, RelationSpan

TEXT = "Andrew Ng lives in London, and Google hired Andrew Ng."
DOC = Document.from_text("n.txt", TEXT)
CHUNK = Chunk.make(DOC.id, 0, 0, TEXT)


def ent(name: str, type_: str, *starts: int, source: str = "spacy") -> Entity:
    mentions = [
        Mention(chunk_id=CHUNK.id, doc_id=DOC.id, start=s, end=s + len(name), text=name)
        for s in starts
    ]
    return Entity.make(name, type_, mentions=mentions, source=source)


def rel(head: Entity, type_: str, tail: Entity, conf: float, ev: tuple[int, int], by: str):
    evidence = Evidence(chunk_id=CHUNK.id, doc_id=DOC.id, start=ev[0], end=ev[1],
                        text=TEXT[ev[0]:ev[1]])  # fmt: skip
    r = Relation.make(head.id, type_, tail.id, evidence=[evidence], confidence=conf, extractor=by)
    return RelationSpan(r, (0, 9), (19, 25))


def test_merge_unions_mentions_and_evidence_and_keeps_the_most_confident() -> None:
    ng_a, ng_b = ent("Andrew Ng", "Person", 0), ent("Andrew Ng", "Person", 44, source="table")
    london = ent("London", "Location", 19)
    a = ChunkResult(
        chunk=CHUNK,
        summary="",
        entities=[ng_a, london],
        relations=[rel(ng_a, "LOCATED_IN", london, 0.3, (0, 25), "spacy-dep")],
        rejected=[Rejected(chunk_id=CHUNK.id, kind="entity", item="x", reason="r")],
    )
    b = ChunkResult(chunk=CHUNK, summary="About Ng.", entities=[ng_b, london],
                    relations=[rel(ng_b, "LOCATED_IN", london, 0.9, (0, 54), "table")])  # fmt: skip
    merged = merge_results(CHUNK, [a, b])
    assert merged.summary == "About Ng."
    assert len(merged.rejected) == 1
    (ng,) = [e for e in merged.entities if e.name == "Andrew Ng"]
    assert [m.start for m in ng.mentions] == [0, 44]
    (r,) = merged.relations
    assert r.relation.confidence == 0.9 and r.relation.extractor == "table"
    assert [(e.start, e.end) for e in r.relation.evidence] == [(0, 25), (0, 54)]
    assert [m.start for m in ng_a.mentions] == [0]  # the inputs are not modified


def test_a_stage_is_one_line_and_results_merge_per_chunk() -> None:
    other = Chunk.make(DOC.id, 1, 27, TEXT[27:])

    def finds(e: Entity):  # a stage: (document, chunks) -> {chunk id: result}
        return lambda d, cs: {CHUNK.id: ChunkResult(chunk=CHUNK, entities=[e])}

    pipeline = ExtractionPipeline()
    pipeline.add("people", finds(ent("Andrew Ng", "Person", 0)))
    pipeline.add("places", finds(ent("London", "Location", 19)))
    out = pipeline.run(DOC, [CHUNK, other])
    assert sorted(e.name for e in out[CHUNK.id].entities) == ["Andrew Ng", "London"]
    assert out[other.id].entities == [] and out[other.id].chunk == other


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "n.txt").write_text(
        "Andrew Ng moved to London while Google opened an office in Paris.\n", encoding="utf-8"
    )
    return root


def test_cooccurrence_is_opt_in(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    plain = Workspace(tmp_path / "plain")
    m = run_extract([root], plain, Settings(), spacy_only=True, progress=False)
    assert "spacy-cooccurrence" not in {r.extractor for r in plain.read("relations")}
    with_it = Workspace(tmp_path / "with")
    m2 = run_extract([root], with_it, Settings(cooccurrence=True), spacy_only=True, progress=False)
    cooc = [r for r in with_it.read("relations") if r.extractor == "spacy-cooccurrence"]
    assert cooc and all(r.type == "RELATED_TO" and r.confidence < 0.3 for r in cooc)
    assert m.config_hash != m2.config_hash


def test_manifest_reports_entities_per_10kb(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    ws = Workspace(tmp_path / "ws")
    m = run_extract([root], ws, Settings(), spacy_only=True, progress=False)
    size = len((root / "n.txt").read_bytes())
    assert m.counts["entities"] > 0
    assert m.entities_per_10kb == round(m.counts["entities"] * 10_000 / size, 2)
    assert ws.manifest().entities_per_10kb == m.entities_per_10kb


def test_cli_flag_turns_cooccurrence_on(tmp_path: Path, monkeypatch) -> None:
    from app.cli import app

    root = _corpus(tmp_path)
    monkeypatch.setenv("KG_WORKSPACE", str(tmp_path / "ws"))
    result = CliRunner().invoke(app, ["extract", str(root), "--spacy-only", "--cooccurrence"])
    assert result.exit_code == 0, result.output
    extractors = {r.extractor for r in Workspace(tmp_path / "ws").read("relations")}
    assert "spacy-cooccurrence" in extractors


def test_corpus_passes_are_declared_steps_run_in_order_over_every_chunk() -> None:
    other = Chunk.make(DOC.id, 1, 27, TEXT[27:])
    seen: list[tuple[str, int]] = []
    pipeline = ExtractionPipeline()
    found = ChunkResult(chunk=CHUNK, entities=[ent("Andrew Ng", "Person", 0)])
    pipeline.add("people", lambda d, cs: {CHUNK.id: found})
    pipeline.add_pass("first", lambda rs: seen.append(("first", len(rs))))
    pipeline.add_pass("second", lambda rs: seen.append(("second", len(rs))) or "done")
    merged = pipeline.run(DOC, [CHUNK, other])
    report = pipeline.finish([DOC], {DOC.id: [CHUNK, other]}, merged)
    assert seen == [("first", 2), ("second", 2)]
    assert report == {"first": None, "second": "done"}


def test_build_stages_declares_the_trained_passes(tmp_path: Path) -> None:
    from kg.llm_cache import LLMCache
    from kg.ontology import load_ontology
    from pipelines.extraction.analysis import Analysis
    from pipelines.extraction.pipeline import build_stages

    ontology = load_ontology("default")
    analysis = Analysis(ontology, LLMCache(tmp_path / "spacy"), True)
    pipeline = build_stages(ontology, Settings(), analysis, trained_cache=LLMCache(tmp_path / "t"))
    assert [n for n, _ in pipeline.stages] == ["spacy", "trained", "structure"]
    assert [n for n, _ in pipeline.passes] == ["overlaps", "type-vote"]
    plain = build_stages(ontology, Settings(trained=False), analysis)
    assert [n for n, _ in plain.passes] == []


def test_the_workspace_is_written_once_per_run(tmp_path: Path, monkeypatch) -> None:
    writes: list[dict] = []
    real = Workspace.write_outputs

    def counting(self: Workspace, outputs, manifest) -> None:  # type: ignore[no-untyped-def]
        writes.append({k: len(list(v)) for k, v in outputs.items()})
        real(self, outputs, manifest)

    monkeypatch.setattr(Workspace, "write_outputs", counting)
    root = _corpus(tmp_path)
    ws = Workspace(tmp_path / "ws")
    run_extract([root], ws, Settings(), spacy_only=True, progress=False)
    assert len(writes) == 1 and writes[0]["documents"] == 1
    assert sorted(p.name for p in ws.root.glob("*.jsonl")) == sorted(
        f"{n}.jsonl" for n in writes[0]
    )
