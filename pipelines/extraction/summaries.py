"""Summaries of every document: extractive map-reduce always (pipelines/summarize_extractive),
replaced by the LLM tier's where it ran — a chunk's LLM map summary replaces that chunk's
extractive one, and the LLM's reduce replaces the extractive reduce of a document the tier
finished."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kg.llm_cache import LLMCache
from kg.models import Chunk, Document, LLMUsage, Summary
from pipelines.extraction.results import ChunkResult

if TYPE_CHECKING:
    from kg.config import Settings

# extractive summaries per (document, chunk ids): an extract writes its outputs up to three
# times, and the sentences need splitting and embedding only once
_EXTRACTIVE: dict[tuple[str, tuple[str, ...]], list[Summary]] = {}


def summarize_documents(
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    results: dict[str, ChunkResult],
    chat: Callable[[], Any],
    cache: LLMCache,
    settings: Settings,
    usage: LLMUsage,
    complete: set[str] | None = None,
) -> list[Summary]:
    """Every document's summaries: the LLM's where the tier answered, extractive elsewhere.

    Only documents in ``complete`` (every chunk answered; all when None) get the LLM's reduce:
    a reduce over part of a document would be redone, and paid for, once the rest arrives.
    """
    from pipelines.summarize import map_summaries, reduce_summaries

    out: list[Summary] = []
    for doc in documents:
        level0 = map_summaries(doc, [(c, results[c.id].summary) for c in chunks[doc.id]])
        reduced: list[Summary] = []
        finished = complete is None or doc.id in complete
        if finished:
            reduced = reduce_summaries(doc, level0, chat, cache=cache, model=settings.llm_model,
                                       usage=usage)  # fmt: skip
        out.extend(merge(extractive(doc, chunks[doc.id]), level0, reduced, finished))
    return out


def map_only(
    documents: list[Document], chunks: dict[str, list[Chunk]], results: dict[str, ChunkResult]
) -> list[Summary]:
    """The summaries there are without an LLM call: the LLM's map summaries that exist so far
    (none with ``--llm off``), the extractive ones for the other chunks, the extractive reduce."""
    from pipelines.summarize import map_summaries

    out: list[Summary] = []
    for doc in documents:
        level0 = map_summaries(doc, [(c, results[c.id].summary) for c in chunks[doc.id]])
        out.extend(merge(extractive(doc, chunks[doc.id]), level0, [], finished=False))
    return out


def extractive(doc: Document, chunks: list[Chunk]) -> list[Summary]:
    """The document's extractive map and reduce summaries (computed once per process)."""
    from pipelines.summarize_extractive import default_encoder, summarize_document

    key = (doc.id, tuple(c.id for c in chunks))
    if key not in _EXTRACTIVE:
        _EXTRACTIVE[key] = summarize_document(doc, chunks, default_encoder())
    return [s.model_copy(deep=True) for s in _EXTRACTIVE[key]]


def merge(
    extractive: list[Summary], llm_map: list[Summary], llm_reduce: list[Summary], finished: bool
) -> list[Summary]:
    """One document's summaries: the LLM map summary of a chunk replaces its extractive one;
    the LLM's levels replace the extractive reduce once the tier finished the document (a
    one-chunk document's LLM map summary is then its document-level summary)."""
    by_llm = {c for s in llm_map for c in s.source_chunk_ids}
    maps = [s for s in extractive if s.level == 0 and not set(s.source_chunk_ids) & by_llm]
    if finished and llm_map:
        return [*llm_map, *maps, *llm_reduce]
    return [*llm_map, *maps, *(s for s in extractive if s.level >= 1)]
