"""Reading an LLM answer item by item into the chunk's gate (``ChunkBuilder``).

Whatever shape the model answered, every usable item is kept and every other one is recorded
with the reason it was refused; nothing here raises on bad output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kg.models import MAX_ENTITIES_PER_CHUNK, MAX_RELATIONS_PER_CHUNK, Chunk
from kg.ontology import Ontology
from pipelines.extraction.builder import FALLBACK_RELATION, ChunkBuilder
from pipelines.extraction.candidates import Candidate
from pipelines.extraction.results import ChunkResult

LLM_CONFIDENCE = 0.8
LLM_FALLBACK_CONFIDENCE = 0.4  # an unknown or ill-fitting type, kept as RELATED_TO


def text_field(item: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` whose value is a string (models spell keys in many ways)."""
    for n in names:
        value = item.get(n)
        if isinstance(value, str):
            return value
    return None


def usable(parsed: Any) -> str | None:
    """Why the output cannot be used at all (None when at least its shape is right)."""
    if parsed is None:
        return "no JSON in the output"
    if not isinstance(parsed, dict):
        return f"expected a JSON object, got {type(parsed).__name__}"
    if not any(k in parsed for k in ("entities", "relations", "summary")):
        return "JSON object has none of summary/entities/relations"
    return None


def validate_extraction(
    parsed: Any, chunk: Chunk, candidates: Sequence[Candidate], ontology: Ontology
) -> ChunkResult:
    """Keep every valid item of an LLM answer and record each invalid one with its reason."""
    b = ChunkBuilder(chunk, candidates, ontology)
    problem = usable(parsed)
    if problem:
        b.reject("output", parsed, problem)
        return b.result()
    summary = parsed.get("summary")
    summary = summary.strip()[:1200] if isinstance(summary, str) else ""
    for key, kind, limit, too_many, read in (
        ("entities", "entity", MAX_ENTITIES_PER_CHUNK * 2, "too many entities in chunk", _entity),
        ("relations", "relation", MAX_RELATIONS_PER_CHUNK * 2, "too many relations", _relation),
    ):
        items = parsed.get(key, [])
        if not isinstance(items, list):
            b.reject("output", items, f"{key} is not a list")
            continue
        for n, item in enumerate(items):
            if n >= limit:
                b.reject(kind, {"dropped": len(items) - n}, too_many)
                break
            read(b, item)
    return b.result(summary)


def _entity(b: ChunkBuilder, item: Any) -> None:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        b.reject("entity", item, f"not an object ({type(item).__name__})")
        return
    name = text_field(item, "name", "entity", "text")
    if name is None or not name.strip():
        b.reject("entity", item, "missing name")
        return
    b.admit_entity(
        name,
        text_field(item, "type", "label", "category") or "",
        source="llm",
        description=text_field(item, "description") or "",
        item=item,
    )


def _relation(b: ChunkBuilder, item: Any) -> None:
    if not isinstance(item, dict):
        b.reject("relation", item, f"not an object ({type(item).__name__})")
        return
    head = text_field(item, "head", "source", "subject")
    tail = text_field(item, "tail", "target", "object")
    raw_type = text_field(item, "type", "relation", "label")
    if not head or not tail or not raw_type:
        b.reject("relation", item, "missing head, tail or type")
        return
    type_ = b.ontology.canonical_relation_type(raw_type)
    if type_ is None and b.ontology.relation_type(FALLBACK_RELATION) is None:
        b.reject("relation", item, f"unknown relation type {raw_type!r}")
        return
    b.admit_relation(
        " ".join(head.split()),
        " ".join(tail.split()),
        [(type_, False)] if type_ else [],
        flip=True,
        confidence=LLM_CONFIDENCE if type_ else LLM_FALLBACK_CONFIDENCE,
        fallback_confidence=LLM_FALLBACK_CONFIDENCE,
        extractor="llm",
        evidence_text=text_field(item, "evidence", "quote") or "",
        description=text_field(item, "description") or "",
        item=item,
    )
