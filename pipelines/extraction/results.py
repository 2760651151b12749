"""What one chunk's extraction yields, before the corpus-wide assembly merges it.

Pydantic models: they are the contract between stages and what the per-chunk caches hold
(``dump_result`` / ``load_result`` are the models' own JSON, no hand-written codec).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from kg.models import Chunk, Entity, LLMUsage, Rejected, Relation


class RelationSpan(BaseModel):
    """A relation with the argument spans it was anchored to (document offsets), for scoring."""

    relation: Relation
    head_span: tuple[int, int]
    tail_span: tuple[int, int]

    def __init__(
        self, relation: Relation, head_span: tuple[int, int], tail_span: tuple[int, int]
    ) -> None:
        super().__init__(relation=relation, head_span=head_span, tail_span=tail_span)


class ChunkResult(BaseModel):
    chunk: Chunk
    summary: str = ""
    entities: list[Entity] = Field(default_factory=list)
    relations: list[RelationSpan] = Field(default_factory=list)
    # pairs a classifier found likely but not sure: never in the graph unless the LLM tier
    # confirms them (``pipelines.extraction.llm_verify``)
    candidates: list[RelationSpan] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)
    usage: LLMUsage = Field(default_factory=LLMUsage)


# the chunk is the cache key's input and usage is per run: neither is stored with a result
_NOT_CACHED = {"chunk", "usage"}


def dump_result(result: ChunkResult) -> dict[str, Any]:
    """A result as the JSON value the per-chunk caches store."""
    return result.model_dump(mode="json", exclude=_NOT_CACHED)


def load_result(chunk: Chunk, data: dict[str, Any]) -> ChunkResult:
    return ChunkResult.model_validate({**data, "chunk": chunk})
