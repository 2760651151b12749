"""Structure-aware extraction: typed entities and relations read from tables, headings and lists.

Notes state many facts by layout rather than by sentence: a row of ``Days | Topics Covered |
Resources`` says the row's resource covers each of its topics; ``Topics: a, b`` under
``## Course: X`` says X covers a and b. These rules need no model, so they are precise where they
fire. Which header words name which entity type, and which column pairs make which relation, come
from the ontology's ``structure:`` section; nothing here knows a particular file.

Every mention and every relation's evidence carries exact document offsets and the chunk that
contains it; entities get ``source`` and relations ``extractor`` "table", "heading" or "list".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from kg.models import Chunk, Document, Entity, Evidence, Mention, Relation, entity_id
from kg.ontology import Ontology, StructureKind
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.structure_md import read_markdown
from pipelines.extraction.structure_text import Item
from pipelines.extraction.structure_vocab import suffix_type

CONFIDENCE = {"table": 0.9, "list": 0.85, "heading": 0.8, "enumeration": 0.7, "versus": 0.7}

@dataclass(frozen=True)
class Line:
    """One line of the document: its offsets (without the newline) and whether it is code."""

    index: int
    start: int
    end: int
    text: str
    code: bool = False

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def split_lines(text: str) -> list[Line]:
    """All lines with document offsets; lines of fenced code blocks (as markdown-it reads
    them) are marked as code."""
    fenced = read_markdown(text).fenced
    lines: list[Line] = []
    for i, m in enumerate(re.finditer(r"[^\n]*(?:\n|$)", text)):
        if m.start() == len(text) and m.group() == "":
            break
        raw = m.group().rstrip("\n").rstrip("\r")
        lines.append(Line(i, m.start(), m.start() + len(raw), raw, code=i in fenced))
    return lines


@dataclass
class Placed:
    """An item given a kind and a type, ready to become an entity."""

    item: Item
    kind: StructureKind | None
    type: str

    @property
    def id(self) -> str:
        return entity_id(self.item.name, self.type)

    @property
    def span(self) -> tuple[int, int]:
        return (self.item.start, self.item.end)


class Collector:
    """Gathers entities and relations per chunk; the one place offsets meet chunks."""

    def __init__(self, document: Document, chunks: list[Chunk], ontology: Ontology) -> None:
        self.doc = document
        self.text = document.text
        self.ontology = ontology
        self.rules = ontology.structure
        self.chunks = sorted(chunks, key=lambda c: (c.start, c.end))
        self._starts = [c.start for c in self.chunks]
        self.results: dict[str, ChunkResult] = {}
        self._entities: dict[str, dict[str, Entity]] = {}
        self._relations: dict[str, dict[str, RelationSpan]] = {}
        self._known: set[str] = set()  # entity ids that have at least one mention

    def chunk_for(self, start: int, end: int) -> Chunk | None:
        """The first chunk that contains the whole span (chunks overlap, so look back a few)."""
        i = bisect_right(self._starts, start) - 1
        found = None
        while i >= 0 and self.chunks[i].end >= end:
            if self.chunks[i].start <= start:
                found = self.chunks[i]
            i -= 1
        return found

    def _result(self, chunk: Chunk) -> ChunkResult:
        if chunk.id not in self.results:
            self.results[chunk.id] = ChunkResult(chunk=chunk)
            self._entities[chunk.id] = {}
            self._relations[chunk.id] = {}
        return self.results[chunk.id]

    def place(self, item: Item, kind: StructureKind | None, type_: str | None = None) -> Placed:
        """Type an item: a telling last word ("… course") wins over its column's type."""
        chosen = suffix_type(item.name, self.rules) or type_ or (kind.type if kind else None)
        return Placed(item, kind, chosen or self.ontology.fallback_entity_type)

    def entity(self, placed: Placed, source: str) -> bool:
        """Record the entity and its mention; False when no chunk holds the mention."""
        item = placed.item
        chunk = self.chunk_for(item.start, item.end)
        if chunk is None:
            return False
        self._result(chunk)
        ents = self._entities[chunk.id]
        ent = ents.get(placed.id)
        if ent is None:
            ent = Entity.make(item.name, placed.type, source=source)
            ents[ent.id] = ent
            self.results[chunk.id].entities.append(ent)
        if not any(m.start == item.start and m.end == item.end for m in ent.mentions):
            ent.mentions.append(
                Mention(
                    chunk_id=chunk.id,
                    doc_id=self.doc.id,
                    start=item.start,
                    end=item.end,
                    text=self.text[item.start : item.end],
                )
            )
        for alias in item.aliases:
            if alias not in ent.aliases:
                ent.aliases.append(alias)
        self._known.add(placed.id)
        return True

    def relation(
        self,
        head: Placed,
        type_: str,
        tail: Placed,
        evidence: list[tuple[int, int]],
        extractor: str,
        confidence: float | None = None,
    ) -> bool:
        """Record ``head -type-> tail`` when the ontology allows it and a chunk holds evidence.

        ``evidence`` lists spans from the widest (the row, the line) to the narrowest; the
        first that one chunk contains is kept.
        """
        if head.id == tail.id or not self.ontology.allows(type_, head.type, tail.type):
            return False
        if not (self.entity(head, extractor) and self.entity(tail, extractor)):
            return False
        for start, end in evidence:
            chunk = self.chunk_for(start, end)
            if chunk is not None:
                break
        else:
            return False
        self._result(chunk)
        for end_point in (head, tail):
            self._carry(end_point, chunk)
        ev = Evidence(
            chunk_id=chunk.id, doc_id=self.doc.id, start=start, end=end,
            text=self.text[start:end],
        )
        rels = self._relations[chunk.id]
        rel_id = Relation.make(head.id, type_, tail.id).id
        known = rels.get(rel_id)
        if known is not None:
            if all((e.start, e.end) != (start, end) for e in known.relation.evidence):
                known.relation.evidence.append(ev)
            return True
        rel = Relation.make(
            head.id,
            type_,
            tail.id,
            evidence=[ev],
            confidence=confidence if confidence is not None else CONFIDENCE[extractor],
            extractor=extractor,
        )
        span = RelationSpan(rel, head.span, tail.span)
        rels[rel_id] = span
        self.results[chunk.id].relations.append(span)
        return True

    def _carry(self, placed: Placed, chunk: Chunk) -> None:
        """Put a relation's argument into the chunk that holds the relation, if it is elsewhere.

        A heading's entity lives in the heading's chunk; the relations it scopes live with their
        bullets. Each chunk's result must hold both ends of its relations (merges drop the rest),
        so the entity is copied there with the mentions it has, which name their own chunk.
        """
        ents = self._entities[chunk.id]
        if placed.id in ents:
            return
        home = self.chunk_for(placed.item.start, placed.item.end)
        if home is None:
            return
        ent = self._entities[home.id][placed.id].model_copy(deep=True)
        ents[ent.id] = ent
        self.results[chunk.id].entities.append(ent)

    def rule(self, head: StructureKind | None, tail: StructureKind | None) -> str | None:
        """The relation type the ontology declares for a (head kind, tail kind) pair."""
        if head is None or tail is None:
            return None
        return next(
            (r.type for r in self.rules.relations if r.head == head.name and r.tail == tail.name),
            None,
        )

    def item_extras(self, placed: Placed, extractor: str, line: tuple[int, int]) -> None:
        """Relations an item carries in itself: its "(a, b, c)" members are kinds of it."""
        for member in placed.item.members:
            sub = self.place(member, placed.kind, placed.type)
            self.relation(
                sub, "IS_A", placed, [line, (placed.item.start, member.end)], extractor,
                CONFIDENCE["enumeration"],
            )

    def compared(self, a: Placed, b: Placed, extractor: str, line: tuple[int, int]) -> None:
        span = (min(a.item.start, b.item.start), max(a.item.end, b.item.end))
        self.relation(a, "COMPARED_WITH", b, [line, span], extractor, CONFIDENCE["versus"])


def extract_structure(
    document: Document, chunks: list[Chunk], ontology: Ontology
) -> dict[str, ChunkResult]:
    """Chunk id -> what the table, heading and list rules found in that chunk.

    Only chunks where a rule found something are present. A relation sits in the chunk that
    holds its evidence; its head may be mentioned in an earlier chunk (a heading), where that
    entity's mention is recorded.
    """
    from pipelines.extraction.structure_lists import extract_sections
    from pipelines.extraction.structure_tables import extract_tables

    if not ontology.structure.kinds or not chunks:
        return {}
    collector = Collector(document, chunks, ontology)
    lines = split_lines(document.text)
    table_lines = extract_tables(collector, lines)
    extract_sections(collector, lines, skip=table_lines)
    return collector.results
