"""What one chunk's extraction yields, before the corpus-wide assembly merges it."""

from __future__ import annotations

from dataclasses import dataclass, field

from kg.models import Chunk, Entity, LLMUsage, Rejected, Relation


@dataclass
class RelationSpan:
    """A relation with the argument spans it was anchored to (document offsets), for scoring."""

    relation: Relation
    head_span: tuple[int, int]
    tail_span: tuple[int, int]


@dataclass
class ChunkResult:
    chunk: Chunk
    summary: str = ""
    entities: list[Entity] = field(default_factory=list)
    relations: list[RelationSpan] = field(default_factory=list)
    # pairs a classifier found likely but not sure: never in the graph unless the LLM tier
    # confirms them (``pipelines.extraction.llm_verify``)
    candidates: list[RelationSpan] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)
