"""Assembly: every chunk's entities merged by id across the corpus, resolved, relations remapped.

Relations follow their arguments through resolution; two relations that become the same (same
head, type and tail) merge, keeping the highest confidence and every piece of evidence.
"""

from __future__ import annotations

from collections.abc import Iterable

from kg.models import Entity, Mention, Merge, Relation
from pipelines.extraction.resolution import resolve_entities
from pipelines.extraction.results import ChunkResult


def assemble(
    results: Iterable[ChunkResult], fallback_type: str = "Concept"
) -> tuple[list[Entity], list[Relation], list[Merge]]:
    """Entities merged by id then resolved across the corpus; relations remapped and merged."""
    by_id: dict[str, Entity] = {}
    relations: list[Relation] = []
    for r in results:
        for ent in r.entities:
            known = by_id.get(ent.id)
            if known is None:
                by_id[ent.id] = ent.model_copy(deep=True)
                continue
            known.mentions.extend(ent.mentions)
            if len(ent.description) > len(known.description):
                known.description = ent.description
            known.aliases += [a for a in ent.aliases if a not in known.aliases]
            if ent.source == "llm":
                known.source = "llm"
        relations.extend(rs.relation for rs in r.relations)
    for ent in by_id.values():
        ent.mentions = _unique_mentions(ent.mentions)
    entities, merges = resolve_entities(list(by_id.values()), fallback_type)
    redirect = {m.merged_id: m.kept_id for m in merges}
    merged: dict[str, Relation] = {}
    for rel in relations:
        head = redirect.get(rel.head_id, rel.head_id)
        tail = redirect.get(rel.tail_id, rel.tail_id)
        if head == tail:
            continue
        new = Relation.make(
            head,
            rel.type,
            tail,
            evidence=list(rel.evidence),
            confidence=rel.confidence,
            extractor=rel.extractor,
            description=rel.description,
            predicate=rel.predicate,
        )
        old = merged.get(new.id)
        if old is None:
            merged[new.id] = new
            continue
        seen = {(e.chunk_id, e.start, e.end) for e in old.evidence}
        old.evidence += [e for e in new.evidence if (e.chunk_id, e.start, e.end) not in seen]
        if new.confidence > old.confidence:
            old.confidence, old.extractor = new.confidence, new.extractor
            old.predicate = new.predicate or old.predicate
        if len(new.description) > len(old.description):
            old.description = new.description
    for rel in merged.values():
        rel.evidence.sort(key=lambda e: (e.doc_id, e.start, e.end))
    return entities, sorted(merged.values(), key=lambda r: r.id), merges


def _unique_mentions(mentions: list[Mention]) -> list[Mention]:
    seen: dict[tuple[str, int, int], Mention] = {}
    for m in mentions:
        seen.setdefault((m.doc_id, m.start, m.end), m)
    return sorted(seen.values(), key=lambda m: (m.doc_id, m.start, m.end))
