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
) -> list[Summary]:
    """Level-0 summaries from each chunk's LLM answer, reduced per document by the LLM."""
    from pipelines.summarize import map_summaries, reduce_summaries

    out: list[Summary] = []
    for doc in documents:
        level0 = map_summaries(doc, [(c, results[c.id].summary) for c in chunks[doc.id]])
        out.extend(level0)
        out.extend(
            reduce_summaries(doc, level0, chat, cache=cache, model=settings.llm_model, usage=usage)
        )
    return out
