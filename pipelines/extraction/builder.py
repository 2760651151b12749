"""The one gate of a chunk's extraction: every entity and relation, from any source, passes here.

An entity is admitted when its name is not junk, its type is (or maps to) an ontology type and
the name occurs in the chunk. A relation is admitted when both arguments are entities of the
chunk, they differ, and one of the proposed types fits the ontology's signature (possibly the
other way round); otherwise it falls back to ``RELATED_TO`` when the ontology has it. Every
admitted item gets exact spans in the text. What an LLM proposed and the gate refused is recorded
with its reason (``rejected.jsonl``); what spaCy or the rules propose is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kg.models import Chunk, Entity, Evidence, LLMUsage, Mention, Rejected, Relation, normalize_name
from kg.ontology import Ontology
from pipelines.extraction.candidates import Candidate
from pipelines.extraction.junk import junk_filter
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.spans import find_spans, sentences

Span = tuple[int, int]
MAX_NAME_CHARS = 120
FALLBACK_RELATION = "RELATED_TO"


def fit_relation(
    ontology: Ontology,
    options: Sequence[tuple[str, bool]],
    head_type: str,
    tail_type: str,
    *,
    flip: bool,
) -> tuple[str, bool] | None:
    """The first (type, reversed?) option the ontology allows between the two types.

    With ``flip`` an option that fits only the other way round is taken reversed (unless the
    relation is symmetric, where direction carries no meaning)."""
    for name, reverse in options:
        h, t = (tail_type, head_type) if reverse else (head_type, tail_type)
        if ontology.allows(name, h, t):
            return name, reverse
        rel = ontology.relation_type(name)
        if flip and rel is not None and not rel.symmetric and ontology.allows(name, t, h):
            return name, not reverse
    return None


class ChunkBuilder:
    """Collects the admitted entities and relations of one chunk."""

    def __init__(self, chunk: Chunk, candidates: Sequence[Candidate], ontology: Ontology) -> None:
        self.chunk = chunk
        self.ontology = ontology
        self.candidates = candidates
        self.junk = junk_filter(ontology)
        self.entities: dict[str, Entity] = {}
        self.spans: dict[str, list[Span]] = {}
        self.by_name: dict[str, str] = {}
        self.relations: dict[str, RelationSpan] = {}
        self.rejected: list[Rejected] = []

    def reject(self, kind: str, item: Any, reason: str) -> None:
        self.rejected.append(
            Rejected(chunk_id=self.chunk.id, kind=kind, item=jsonable(item), reason=reason)  # type: ignore[arg-type]
        )

    def candidate_type(self, name: str) -> str | None:
        key = normalize_name(name)
        for c in self.candidates:
            if c.source != "noun_chunk" and normalize_name(c.text) == key:
                return c.type
        return None

    # ---------------------------------------------------------------- entities

    def admit_entity(
        self,
        name: str,
        type_: str = "",
        *,
        source: str,
        description: str = "",
        spans: list[Span] | None = None,
        item: Any = None,
    ) -> Entity | None:
        """The entity ``name`` names in this chunk, added if new; None when it is refused.

        ``spans`` (chunk offsets) anchor it where a tagger found it; without them the name is
        looked up in the text. A refusal is recorded when ``item`` (what an LLM said) is given.
        """
        name = " ".join(name.split())
        key = normalize_name(name)
        known = self.by_name.get(key)
        if known is not None:
            ent = self.entities[known]
            for s, e in spans or []:
                if (s, e) not in self.spans[ent.id]:
                    self.spans[ent.id].append((s, e))
                    ent.mentions.append(self._mention(s, e))
            return ent
        problem = (
            f"name longer than {MAX_NAME_CHARS} characters"
            if len(name) > MAX_NAME_CHARS
            else self.junk.reason(name)
        )
        if problem is None:
            spans = spans if spans is not None else find_spans(name, self.chunk.text)
            if not spans:
                problem = "name not found in the chunk text"
        if problem is not None:
            if item is not None:
                self.reject("entity", item, problem)
            return None
        canonical = self.ontology.canonical_entity_type(type_) if type_ else None
        ent = Entity.make(
            name,
            canonical or self.candidate_type(name) or self.ontology.fallback_entity_type,
            description=description.strip()[:300],
            source=source,
            mentions=[self._mention(s, e) for s, e in spans or []],
        )
        self.entities[ent.id] = ent
        self.spans[ent.id] = list(spans or [])
        self.by_name[key] = ent.id
        return ent

    def lookup(self, name: str) -> Entity | None:
        """The chunk entity a relation argument names; adds it when the text names it."""
        return self.admit_entity(name, source="llm")

    def _mention(self, s: int, e: int) -> Mention:
        c = self.chunk
        return Mention(
            chunk_id=c.id, doc_id=c.doc_id, start=c.start + s, end=c.start + e, text=c.text[s:e]
        )

    # ---------------------------------------------------------------- relations

    def admit_relation(
        self,
        head: Entity | str,
        tail: Entity | str,
        options: Sequence[tuple[str, bool]],
        *,
        confidence: float,
        fallback_confidence: float,
        extractor: str,
        flip: bool = False,
        evidence_text: str = "",
        description: str = "",
        head_span: Span | None = None,
        tail_span: Span | None = None,
        item: Any = None,
    ) -> Relation | None:
        """Relate two entities of the chunk with the first of ``options`` the ontology allows.

        ``options`` are (type, reversed?) in order of preference; when none fits, the relation
        becomes ``RELATED_TO`` with ``fallback_confidence`` (or is refused without it)."""
        h = self.lookup(head) if isinstance(head, str) else head
        t = self.lookup(tail) if isinstance(tail, str) else tail
        if h is None or t is None:
            missing = head if h is None else tail
            return self._refuse(item, f"argument {missing!r} is not an entity of this chunk")
        if h.id == t.id:
            return self._refuse(item, "head and tail are the same entity")
        fit = fit_relation(self.ontology, options, h.type, t.type, flip=flip)
        if fit is not None:
            type_, reverse = fit
        elif self.ontology.relation_type(FALLBACK_RELATION) is not None:
            type_, reverse, confidence = FALLBACK_RELATION, False, fallback_confidence
        else:
            wanted = options[0][0] if options else "relation"
            return self._refuse(item, f"{wanted} does not join {h.type} to {t.type}")
        if reverse:
            h, t, head_span, tail_span = t, h, tail_span, head_span
        return self.add_relation(
            h,
            type_,
            t,
            evidence_text=evidence_text,
            confidence=confidence,
            extractor=extractor,
            description=description,
            head_span=head_span,
            tail_span=tail_span,
        )

    def _refuse(self, item: Any, reason: str) -> None:
        if item is not None:
            self.reject("relation", item, reason)

    def add_relation(
        self,
        head: Entity,
        type_: str,
        tail: Entity,
        *,
        evidence_text: str = "",
        confidence: float,
        extractor: str,
        description: str = "",
        head_span: Span | None = None,
        tail_span: Span | None = None,
    ) -> Relation:
        """Anchor an admitted relation: argument spans and an evidence span in the chunk."""
        hs, ts = head_span, tail_span
        if hs is None or ts is None:
            hs, ts = _closest(self.spans[head.id], self.spans[tail.id])
        ev = self._evidence(evidence_text, hs, ts)
        if ev is not None:  # prefer the argument mentions inside the evidence
            inside_h = [s for s in self.spans[head.id] if ev[0] <= s[0] and s[1] <= ev[1]]
            inside_t = [s for s in self.spans[tail.id] if ev[0] <= s[0] and s[1] <= ev[1]]
            if inside_h and inside_t and head_span is None:
                hs, ts = _closest(inside_h, inside_t)
        else:
            ev = self._sentence_span(hs, ts)
        start, end = ev
        c = self.chunk
        rel = Relation.make(
            head.id,
            type_,
            tail.id,
            evidence=[
                Evidence(chunk_id=c.id, doc_id=c.doc_id, start=c.start + start,
                         end=c.start + end, text=c.text[start:end])
            ],
            confidence=confidence,
            extractor=extractor,
            description=description[:300],
        )  # fmt: skip
        doc_h = (c.start + hs[0], c.start + hs[1])
        doc_t = (c.start + ts[0], c.start + ts[1])
        old = self.relations.get(rel.id)
        if old is None or old.relation.confidence < confidence:
            self.relations[rel.id] = RelationSpan(rel, doc_h, doc_t)
        return rel

    def _evidence(self, quote: str, hs: Span, ts: Span) -> Span | None:
        quote = quote.strip().strip('"').strip()
        if len(quote) < 3:
            return None
        spans = find_spans(quote, self.chunk.text, limit=5)
        if not spans:
            return None
        mid = (min(hs[0], ts[0]) + max(hs[1], ts[1])) / 2
        return min(spans, key=lambda s: abs((s[0] + s[1]) / 2 - mid))

    def _sentence_span(self, hs: Span, ts: Span) -> Span:
        lo, hi = min(hs[0], ts[0]), max(hs[1], ts[1])
        sents = sentences(self.chunk.text)
        covering = [s for s in sents if s[0] <= lo and hi <= s[1]]
        if covering:
            return covering[0]
        first = next((s for s in sents if s[0] <= lo < s[1]), (lo, hi))
        last = next((s for s in sents if s[0] < hi <= s[1]), (lo, hi))
        return min(first[0], lo), max(last[1], hi)

    def result(self, summary: str = "", usage: LLMUsage | None = None) -> ChunkResult:
        return ChunkResult(
            chunk=self.chunk,
            summary=summary,
            entities=sorted(self.entities.values(), key=lambda e: e.id),
            relations=sorted(self.relations.values(), key=lambda r: r.relation.id),
            rejected=self.rejected,
            usage=usage or LLMUsage(),
        )


def _closest(a: list[Span], b: list[Span]) -> tuple[Span, Span]:
    best = None
    for x in a:
        for y in b:
            if x == y:
                continue
            gap = max(x[0], y[0]) - min(x[1], y[1])
            if best is None or gap < best[0]:
                best = (gap, x, y)
    if best is None:
        return a[0], b[0]
    return best[1], best[2]


def jsonable(item: Any) -> Any:
    """A bounded, JSON-safe copy of whatever an LLM answered (for ``rejected.jsonl``)."""
    if isinstance(item, str | int | float | bool) or item is None:
        return item if not isinstance(item, str) else item[:1000]
    if isinstance(item, dict):
        return {str(k)[:100]: jsonable(v) for k, v in list(item.items())[:20]}
    if isinstance(item, list | tuple):
        return [jsonable(v) for v in list(item)[:20]]
    return repr(item)[:1000]
