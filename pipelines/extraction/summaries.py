"""Summaries: the LLM tier's per-chunk summaries, mapped and reduced per document."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kg.llm_cache import LLMCache
from kg.models import Chunk, Document, LLMUsage, Summary
from pipelines.extraction.results import ChunkResult

if TYPE_CHECKING:
    from kg.config import Settings


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
    """Level-0 summaries from each chunk's LLM answer, reduced per document by the LLM.

    Only documents in ``complete`` (every chunk answered; all when None) are reduced: a reduce
    over part of a document would be redone, and paid for, once the rest arrives.
    """
    from pipelines.summarize import map_summaries, reduce_summaries

    out: list[Summary] = []
    for doc in documents:
        level0 = map_summaries(doc, [(c, results[c.id].summary) for c in chunks[doc.id]])
        out.extend(level0)
        if complete is None or doc.id in complete:
            out.extend(reduce_summaries(doc, level0, chat, cache=cache, model=settings.llm_model,
                                        usage=usage))  # fmt: skip
    return out


def map_only(
    documents: list[Document], chunks: dict[str, list[Chunk]], results: dict[str, ChunkResult]
) -> list[Summary]:
    """The level-0 summaries that exist so far (no LLM call)."""
    from pipelines.summarize import map_summaries

    return [
        s for doc in documents
        for s in map_summaries(doc, [(c, results[c.id].summary) for c in chunks[doc.id]])
    ]  # fmt: skip
