"""``kg extract`` in one readable place: load -> chunk -> analyse -> extractors -> merge -> graph.

The extractors are an ordered list of stages. A stage takes one document and its chunks and
returns a ``ChunkResult`` for any of those chunks (chunk id -> result); the pipeline merges the
results of all stages per chunk (``merge_results``). Adding an extractor is one line in
``build_stages``. The workspace is rebuilt from cached per-chunk work on every run, so unchanged
files cost no LLM calls and no parsing, and deleted files drop out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from kg.llm_cache import LLMCache
from kg.models import Chunk, Document, LLMUsage, Manifest
from kg.ontology import Ontology, load_ontology
from pipelines.extraction.analysis import SPACY_MODEL_NAME, Analysis
from pipelines.extraction.assembly import assemble
from pipelines.extraction.chat import LazyChat
from pipelines.extraction.chunking import chunk_documents
from pipelines.extraction.junk import junk_filter
from pipelines.extraction.loading import load_documents
from pipelines.extraction.merge import merge_results
from pipelines.extraction.plan import print_plan, print_warnings
from pipelines.extraction.progress import ChunkProgress
from pipelines.extraction.refine import LLMTierRun
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.structure import extract_structure
from pipelines.extraction.summaries import map_only, summarize_documents
from pipelines.extraction.trained import TrainedStage, model_version, settle_overlaps, vote_types

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.workspace import Workspace

Stage = Callable[[Document, list[Chunk]], dict[str, ChunkResult]]


@dataclass
class ExtractionPipeline:
    """Ordered extractors whose per-chunk results are merged into one result per chunk."""

    stages: list[tuple[str, Stage]] = field(default_factory=list)
    is_junk: Callable[[str], bool] | None = None
    settle: Callable[[ChunkResult], ChunkResult] | None = None  # after the merge, per chunk

    def add(self, name: str, stage: Stage) -> ExtractionPipeline:
        self.stages.append((name, stage))
        return self

    def run(self, document: Document, chunks: list[Chunk]) -> dict[str, ChunkResult]:
        outputs = [stage(document, chunks) for _, stage in self.stages]
        merged = {
            c.id: merge_results(
                c, [o[c.id] for o in outputs if c.id in o] or [ChunkResult(chunk=c)], self.is_junk
            )
            for c in chunks
        }
        if self.settle is not None:
            merged = {cid: self.settle(r) for cid, r in merged.items()}
        return merged


def build_stages(
    ontology: Ontology,
    settings: Settings,
    analysis: Analysis,
    *,
    trained_cache: LLMCache | None = None,
) -> ExtractionPipeline:
    """The extractors ``kg extract`` runs, in order (earlier stages win ties in a merge).

    The LLM is not one of them: it refines the merged result afterwards (``refine.py``).
    """
    pipeline = ExtractionPipeline(is_junk=junk_filter(ontology))
    pipeline.add("spacy", analysis.spacy_stage)
    if settings.trained and trained_cache is not None:
        pipeline.add("trained", TrainedStage(ontology, trained_cache))
        fallback = ontology.fallback_entity_type
        typed = frozenset(t.name for t in ontology.entity_types if t.trained_labels)
        pipeline.settle = lambda result: settle_overlaps(result, fallback, typed)
    pipeline.add("structure", lambda doc, chunks: extract_structure(doc, chunks, ontology))
    return pipeline


def run_extract(
    paths: Sequence[Path],
    workspace: Workspace,
    settings: Settings,
    *,
    spacy_only: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    chat: Any = None,
    replace: bool = False,
) -> Manifest:
    """Extract ``paths`` into ``workspace``, added to the sources it already has (kg.sources;
    ``replace``: these paths only); returns the manifest it wrote."""
    from kg import __version__
    from kg.sources import describe, plan_sources

    t0 = time.perf_counter()
    ontology = load_ontology(settings.ontology)
    plan = plan_sources(workspace, paths, replace=replace)
    documents, skipped = load_documents(plan.read, settings)
    kept, removed = plan.settle(documents)
    documents += kept
    for line in describe(plan, removed) if progress or dry_run else ():
        Console(stderr=True).print(f"[yellow]{escape(line)}[/]", highlight=False)
    chunks = chunk_documents(documents, settings)
    all_chunks = [c for d in documents for c in chunks[d.id]]
    cache = LLMCache.for_workspace(workspace.root)
    manifest = Manifest(
        kg_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        models={
            "llm": "none (spacy-only)" if spacy_only else settings.llm_model,
            "spacy": SPACY_MODEL_NAME,
            **({"trained": model_version()} if settings.trained else {}),
        },
        ontology=ontology.name,
        ontology_hash=ontology.fingerprint(),
        config_hash=settings.extraction_fingerprint(),
        skipped=skipped,
        sources=plan.sources,
        source_documents=plan.by_source(documents),
        missing_sources=plan.missing,
        removed=removed,
    )
    if dry_run:
        print_plan(documents, chunks, ontology, spacy_only, manifest)
        manifest.seconds = round(time.perf_counter() - t0, 3)
        return manifest
    if not documents:  # never replace a workspace with an empty one
        manifest.counts = {"documents": 0, "chunks": 0, "skipped": len(skipped)}
        manifest.seconds = round(time.perf_counter() - t0, 3)
        return manifest
    if progress:
        print_warnings(documents)
    lazy = LazyChat(settings, chat)
    llm_on = not spacy_only and settings.llm_mode != "off"
    with workspace.lock("extract"):
        analysis = Analysis(
            ontology,
            LLMCache(workspace.cache_dir / "spacy"),
            True,
            cooccurrence=settings.cooccurrence,
            named_only=settings.trained,
        )
        analysis.prepare(all_chunks)
        with ChunkProgress(len(all_chunks), progress) as bar:
            trained_cache = LLMCache(workspace.cache_dir / "trained")
            pipeline = build_stages(ontology, settings, analysis, trained_cache=trained_cache)
            results = _run_documents(pipeline, documents, chunks, bar)
        if settings.trained:
            vote_types([results[c.id] for c in all_chunks])
        out = _Outputs(workspace, manifest, documents, chunks, all_chunks, ontology, t0)
        if not llm_on:
            manifest.llm_coverage.state = "off"
            out.write(results, [])
            return manifest
        tier = LLMTierRun.create(ontology, settings, lazy, cache)
        tier.plan(documents, results, [c.id for c in all_chunks])
        tier.apply(results)
        run_now, line = tier.decide()
        if line and progress:
            Console(stderr=True).print(line)
        if run_now:
            manifest.llm_coverage = tier.coverage()
            out.write(results, map_only(documents, chunks, results))  # loadable at once
            try:
                with ChunkProgress(len(tier.pending), progress, label="LLM tier") as llm_bar:
                    tier.run(tick=lambda task: llm_bar.tick(None, task.chunk))
            except KeyboardInterrupt:
                tier.apply(results)
                manifest.llm_coverage = tier.coverage()
                out.write(results, map_only(documents, chunks, results))
                raise
            tier.apply(results)
        manifest.llm_coverage = tier.coverage()
        if tier.stop_line() and progress:
            Console(stderr=True).print(escape(tier.stop_line()))
        from kg.llm.client import LLMUnavailable

        usage = LLMUsage()
        try:
            summaries = summarize_documents(
                documents, chunks, results, lazy, cache, settings, usage, tier.complete_docs()
            )
        except LLMUnavailable:  # reduced next run; every chunk's answer is kept
            summaries = map_only(documents, chunks, results)
        out.write(results, summaries, usage)
    return manifest


@dataclass
class _Outputs:
    """Assembles per-chunk results into the workspace files (written once or twice a run)."""

    workspace: Workspace
    manifest: Manifest
    documents: list[Document]
    chunks: dict[str, list[Chunk]]
    all_chunks: list[Chunk]
    ontology: Ontology
    t0: float

    def write(self, results: dict[str, ChunkResult], summaries: list[Any],
              extra: LLMUsage | None = None) -> None:  # fmt: skip
        ordered = [results[c.id] for c in self.all_chunks]
        usage = LLMUsage()
        for r in ordered:
            usage.add(r.usage)
        if extra is not None:
            usage.add(extra)
        entities, relations, merges = assemble(ordered, self.ontology.fallback_entity_type)
        outputs = {
            "documents": self.documents,
            "chunks": self.all_chunks,
            "entities": entities,
            "relations": relations,
            "summaries": summaries,
            "rejected": [rej for r in ordered for rej in r.rejected],
            "merges": merges,
        }
        for name, rows in outputs.items():
            self.workspace.write(name, rows)
        m = self.manifest
        skipped = len(m.skipped)
        m.counts = {name: len(rows) for name, rows in outputs.items()}
        m.counts["skipped"] = skipped
        text_bytes = sum(len(d.text.encode("utf-8")) for d in self.documents)
        m.entities_per_10kb = round(len(entities) * 10_000 / max(1, text_bytes), 2)
        m.llm_usage = usage
        m.seconds = round(time.perf_counter() - self.t0, 3)
        self.workspace.write_manifest(m)


def _run_documents(
    pipeline: ExtractionPipeline,
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    bar: ChunkProgress,
) -> dict[str, ChunkResult]:
    """Each document through the (CPU-bound) stages in turn; the LLM tier has its own pool."""
    results: dict[str, ChunkResult] = {}
    for doc in documents:
        results.update(pipeline.run(doc, chunks[doc.id]))
        bar.done(doc, chunks[doc.id])
    return results
