"""One chunk's results from several extractors, merged into one ``ChunkResult``.

Entities are deduplicated by id (mentions unioned), relations by id (the most confident keeps
its type, spans and extractor; evidence is unioned). The junk filter runs here too, so an
extractor that builds its results by hand cannot put a junk node in the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kg.models import Chunk, Entity, LLMUsage, Relation
from pipelines.extraction.results import ChunkResult, RelationSpan


def merge_results(
    chunk: Chunk,
    results: Sequence[ChunkResult],
    is_junk: Callable[[str], bool] | None = None,
) -> ChunkResult:
    """The union of ``results`` (all for ``chunk``), in the order the extractors ran."""
    if len(results) == 1 and is_junk is None:
        return results[0]
    entities: dict[str, Entity] = {}
    for r in results:
        for ent in r.entities:
            if is_junk is not None and is_junk(ent.name):
                continue
            known = entities.get(ent.id)
            if known is None:
                entities[ent.id] = ent.model_copy(deep=True)
                continue
            seen = {(m.start, m.end) for m in known.mentions}
            known.mentions += [m for m in ent.mentions if (m.start, m.end) not in seen]
            if len(ent.description) > len(known.description):
                known.description = ent.description
    relations: dict[str, RelationSpan] = {}
    for r in results:
        for rs in r.relations:
            rel = rs.relation
            if rel.head_id not in entities or rel.tail_id not in entities:
                continue
            old = relations.get(rel.id)
            if old is None:
                relations[rel.id] = RelationSpan(rel.model_copy(deep=True), rs.head_span,
                                                 rs.tail_span)  # fmt: skip
                continue
            _union_evidence(old.relation, rel)
            if rel.confidence > old.relation.confidence:
                evidence = old.relation.evidence
                relations[rel.id] = RelationSpan(
                    rel.model_copy(update={"evidence": evidence}, deep=True),
                    rs.head_span,
                    rs.tail_span,
                )
    candidates: dict[str, RelationSpan] = {}
    for r in results:
        for rs in r.candidates:
            rel = rs.relation
            if rel.id in relations or rel.head_id not in entities or rel.tail_id not in entities:
                continue
            old = candidates.get(rel.id)
            if old is None or rel.confidence > old.relation.confidence:
                candidates[rel.id] = rs
    usage = LLMUsage()
    for r in results:
        usage.add(r.usage)
    return ChunkResult(
        chunk=chunk,
        summary=next((r.summary for r in results if r.summary), ""),
        entities=sorted(entities.values(), key=lambda e: e.id),
        relations=sorted(relations.values(), key=lambda r: r.relation.id),
        candidates=sorted(candidates.values(), key=lambda r: r.relation.id),
        rejected=[rej for r in results for rej in r.rejected],
        usage=usage,
    )


def _union_evidence(into: Relation, other: Relation) -> None:
    seen = {(e.chunk_id, e.start, e.end) for e in into.evidence}
    into.evidence += [e for e in other.evidence if (e.chunk_id, e.start, e.end) not in seen]
