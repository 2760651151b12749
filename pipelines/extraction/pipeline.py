"""``kg extract`` in one readable place, as declared phases of one ``ExtractionPipeline``:

1. per-chunk stages (``add``): spaCy, the trained tier, the structure rules. A stage takes one
   document and its chunks and returns a ``ChunkResult`` per chunk; the results of all stages
   merge per chunk (``merge_results``). The expensive, cacheable ones are computed first by
   workers (``workers.fill_caches``: ``--workers N`` processes or ``--engine ray``), so this
   phase reads caches;
2. corpus passes (``add_pass``), in order, over every chunk's result in corpus order: the
   overlap settling, the type vote (resolution runs in the assembly);
3. refiners after the passes: the LLM tier and the summaries (``_refine``).

The workspace is written by one ``RunWriter``: once at the end, plus a checkpoint before a long
LLM tier (so the graph is loadable at once) and on Ctrl-C. Adding an extractor or a corpus pass
is one line in ``build_stages``. The workspace is rebuilt from cached per-chunk work on every
run, so unchanged files cost no LLM calls and no parsing, and deleted files drop out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from kg.llm_cache import LLMCache
from kg.models import Chunk, Document, LLMUsage, Manifest
from kg.ontology import Ontology, load_ontology
from kg.retrieval.embed_workspace import write_embeddings
from pipelines.extraction.analysis import SPACY_MODEL_NAME, Analysis
from pipelines.extraction.assembly import assemble
from pipelines.extraction.chat import LazyChat
from pipelines.extraction.chunking import chunk_documents
from pipelines.extraction.junk import junk_filter
from pipelines.extraction.language import LanguagePass
from pipelines.extraction.loading import load_documents
from pipelines.extraction.merge import merge_results
from pipelines.extraction.plan import print_plan, print_warnings
from pipelines.extraction.progress import ChunkProgress
from pipelines.extraction.refine import LLMTierRun
from pipelines.extraction.resolution import CANDIDATES, Review
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.self_train import run_self_train
from pipelines.extraction.structure import extract_structure
from pipelines.extraction.summaries import map_only, summarize_documents
from pipelines.extraction.trained import TrainedStage, model_version, settle_overlaps, vote_types
from pipelines.extraction.workers import cached_stages, default_workers, fill_caches

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.workspace import Workspace

Stage = Callable[[Document, list[Chunk]], dict[str, ChunkResult]]
# a corpus pass sees every chunk's merged result, in corpus order, and changes them in place
CorpusPass = Callable[[list[ChunkResult]], Any]
# a document pass also sees the documents and their chunks (the language pass: sections, parses)
DocumentPass = Callable[[list[Document], dict[str, list[Chunk]], dict[str, ChunkResult]], Any]


@dataclass
class ExtractionPipeline:
    """Per-chunk stages whose results are merged per chunk, then corpus passes in order."""

    stages: list[tuple[str, Stage]] = field(default_factory=list)
    passes: list[tuple[str, CorpusPass]] = field(default_factory=list)
    is_junk: Callable[[str], bool] | None = None
    # passes over the documents and every chunk's result, after the corpus passes
    after: list[tuple[str, DocumentPass]] = field(default_factory=list)
    finished: dict[str, float] = field(default_factory=dict)  # what the document passes reported

    def add(self, name: str, stage: Stage) -> ExtractionPipeline:
        self.stages.append((name, stage))
        return self

    def add_pass(self, name: str, corpus_pass: CorpusPass) -> ExtractionPipeline:
        self.passes.append((name, corpus_pass))
        return self

    def run(self, document: Document, chunks: list[Chunk]) -> dict[str, ChunkResult]:
        outputs = [stage(document, chunks) for _, stage in self.stages]
        return {
            c.id: merge_results(
                c, [o[c.id] for o in outputs if c.id in o] or [ChunkResult(chunk=c)], self.is_junk
            )
            for c in chunks
        }

    def finish(
        self,
        documents: list[Document],
        chunks: dict[str, list[Chunk]],
        results: dict[str, ChunkResult],
    ) -> dict[str, Any]:
        """Every corpus pass, then every document pass, in order; returns what each corpus pass
        returned (counts, for reports) and keeps the document passes' summaries in ``finished``."""
        ordered = [results[c.id] for d in documents for c in chunks.get(d.id, [])]
        reports = {name: corpus_pass(ordered) for name, corpus_pass in self.passes}
        for _, document_pass in self.after:
            report = document_pass(documents, chunks, results)
            if hasattr(report, "summary"):
                self.finished.update(report.summary())
        return reports


def _settle_all(results: list[ChunkResult], fallback: str, typed: frozenset[str]) -> int:
    for r in results:
        settle_overlaps(r, fallback, typed)
    return len(results)


def build_stages(
    ontology: Ontology,
    settings: Settings,
    analysis: Analysis,
    *,
    trained_cache: LLMCache | None = None,
    trained: TrainedStage | None = None,
) -> ExtractionPipeline:
    """The extractors and corpus passes ``kg extract`` runs, in order (earlier stages win ties
    in a merge). The LLM is not one of them: it refines the result afterwards (``refine.py``).
    """
    pipeline = ExtractionPipeline(is_junk=junk_filter(ontology))
    pipeline.add("spacy", analysis.spacy_stage)
    if settings.trained and (trained is not None or trained_cache is not None):
        pipeline.add("trained", trained or TrainedStage(ontology, trained_cache))
        fallback = ontology.fallback_entity_type
        typed = frozenset(t.name for t in ontology.entity_types if t.trained_labels)
        pipeline.add_pass("overlaps", partial(_settle_all, fallback=fallback, typed=typed))
        pipeline.add_pass("type-vote", vote_types)
    pipeline.add("structure", lambda doc, chunks: extract_structure(doc, chunks, ontology))
    # notes types, coreference, relation cues, open relations (each a Settings flag)
    language = LanguagePass.from_settings(
        ontology,
        settings,
        parsed=analysis.parsed,
        nlp=lambda: analysis.finder().nlp,
        cache=analysis.cache,
    )
    pipeline.after.append(("language", language.run))
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
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    replace: bool = False,
) -> Manifest:
    """Extract ``paths`` into ``workspace``, added to the sources it already has (kg.sources;
    ``replace``: these paths only); returns the manifest it wrote.

    ``workers``: processes for the per-chunk work (default: the machine's cores); ``engine``
    "ray" sends it to a Ray cluster instead (``ray_address``, default a local one). The
    workspace is the same byte for byte whichever is used.
    """
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
        review = Review.from_workspace(workspace)  # `kg merges accept|reject` decisions
        caches = {ns: LLMCache.for_workspace(workspace.root, ns) for ns in ("spacy", "trained")}
        stages = cached_stages(ontology, settings, caches)
        with ChunkProgress(len(all_chunks), progress) as bar:
            fill_caches(
                stages, all_chunks, settings, workers=workers or default_workers(),
                engine=engine, ray_address=ray_address,
                tick=lambda part: [bar.tick(None, c) for c in part],
            )  # fmt: skip
            pipeline = build_stages(ontology, settings, stages[0],
                                    trained=stages[1] if len(stages) > 1 else None)  # fmt: skip
            results = _run_documents(pipeline, documents, chunks, bar)
        pipeline.finish(documents, chunks, results)
        manifest.language = pipeline.finished
        if settings.trained and settings.self_train:  # after the language pass: types settled
            manifest.self_train = run_self_train(
                results, all_chunks, documents, ontology, caches["trained"], workspace.cache_dir,
                review=review,
            )  # fmt: skip
        writer = RunWriter(workspace, manifest, documents, chunks, all_chunks, ontology, t0,
                           review=review)  # fmt: skip
        if not llm_on:
            manifest.llm_coverage.state = "off"
            writer.commit(results, map_only(documents, chunks, results))  # extractive summaries
            return manifest
        _refine(writer, results, settings, ontology, lazy, cache, progress)
    return manifest


def _refine(
    writer: RunWriter,
    results: dict[str, ChunkResult],
    settings: Settings,
    ontology: Ontology,
    lazy: LazyChat,
    cache: LLMCache,
    progress: bool,
) -> None:
    """The refiners: the LLM tier (checkpointed before it runs and on Ctrl-C), the summaries."""
    manifest, documents, chunks = writer.manifest, writer.documents, writer.chunks
    tier = LLMTierRun.create(ontology, settings, lazy, cache)
    tier.plan(documents, results, [c.id for c in writer.all_chunks])
    tier.apply(results)
    run_now, line = tier.decide()
    if line and progress:
        Console(stderr=True).print(line)
    if run_now:
        manifest.llm_coverage = tier.coverage()
        writer.checkpoint(results, map_only(documents, chunks, results))  # loadable at once
        try:
            with ChunkProgress(len(tier.pending), progress, label="LLM tier") as llm_bar:
                tier.run(tick=lambda task: llm_bar.tick(None, task.chunk))
        except KeyboardInterrupt:
            tier.apply(results)
            manifest.llm_coverage = tier.coverage()
            writer.checkpoint(results, map_only(documents, chunks, results))
            raise
        tier.apply(results)
    manifest.llm_coverage = tier.coverage()
    if tier.stop_line() and progress:  # the budget, the auto limit, or the LLM lost
        Console(stderr=True).print(escape(tier.stop_line()))
    from kg.llm.client import LLMUnavailable

    usage = LLMUsage()
    try:
        summaries = summarize_documents(
            documents, chunks, results, lazy, cache, settings, usage, tier.complete_docs()
        )
    except LLMUnavailable:  # reduced next run; every chunk's answer is kept
        summaries = map_only(documents, chunks, results)
    writer.commit(results, summaries, usage)


@dataclass
class RunWriter:
    """The one writer of a run's workspace: assembles per-chunk results into its files.

    ``commit`` writes the run's result; ``checkpoint`` writes a complete, loadable workspace
    before (or while interrupting) a long refiner. The manifest goes last either way.
    """

    workspace: Workspace
    manifest: Manifest
    documents: list[Document]
    chunks: dict[str, list[Chunk]]
    all_chunks: list[Chunk]
    ontology: Ontology
    t0: float
    writes: int = 0
    review: Review = field(default_factory=Review)

    def checkpoint(self, results: dict[str, ChunkResult], summaries: list[Any]) -> None:
        self._write(results, summaries, None)

    def commit(self, results: dict[str, ChunkResult], summaries: list[Any],
               extra: LLMUsage | None = None) -> None:  # fmt: skip
        self._write(results, summaries, extra)

    def _write(self, results: dict[str, ChunkResult], summaries: list[Any],
               extra: LLMUsage | None) -> None:  # fmt: skip
        ordered = [results[c.id] for c in self.all_chunks]
        usage = LLMUsage()
        for r in ordered:
            usage.add(r.usage)
        if extra is not None:
            usage.add(extra)
        fallback = self.ontology.fallback_entity_type
        entities, relations, merges = assemble(ordered, fallback, self.review)
        outputs = {
            "documents": self.documents,
            "chunks": self.all_chunks,
            "entities": entities,
            "relations": relations,
            "summaries": summaries,
            "rejected": [rej for r in ordered for rej in r.rejected],
            "merges": merges,
            CANDIDATES: self.review.candidates,
        }
        write_embeddings(self.workspace, self.all_chunks, entities)  # for `kg load`'s vectors
        m = self.manifest
        m.counts = {name: len(rows) for name, rows in outputs.items()}
        m.counts["skipped"] = len(m.skipped)
        text_bytes = sum(len(d.text.encode("utf-8")) for d in self.documents)
        m.entities_per_10kb = round(len(entities) * 10_000 / max(1, text_bytes), 2)
        m.llm_usage = usage
        m.seconds = round(time.perf_counter() - self.t0, 3)
        self.workspace.write_outputs(outputs, m)
        self.writes += 1


def _run_documents(
    pipeline: ExtractionPipeline,
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    bar: ChunkProgress,
) -> dict[str, ChunkResult]:
    """Each document through the stages in turn (their expensive work is cached by now)."""
    results: dict[str, ChunkResult] = {}
    for doc in documents:
        results.update(pipeline.run(doc, chunks[doc.id]))
        bar.done(doc, chunks[doc.id])
    return results
