"""Coreference within a section, by rule: "this course", "the book", "it", "she", "Chapter 6".

Notes name a course once and then say "the course" or "it" for a page. An anaphor resolves to the
nearest preceding entity of a compatible type in the same section (a markdown heading starts a
new one): a definite noun phrase whose noun is one of a type's ``anaphors`` in the ontology
("the library" -> Tool), a part noun of a type's ``parts`` without its own "of X" ("Chapter 6"
-> the book), "she"/"he" (Person anaphors) the nearest person, and "it" the subject of an earlier
sentence (else the nearest mention) that is not a person. Nothing else is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kg.models import Entity
from kg.ontology import Ontology

Token = Any
DEFINITE = frozenset({"the", "this", "that", "these", "those"})
IT = frozenset({"it", "its"})
IT_WINDOW = 600  # characters back that "it" may reach
NOUN_WINDOW = 4000  # ... and a noun anaphor ("the course")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)


def section_starts(text: str) -> list[int]:
    """Document offsets where a section starts (markdown headings)."""
    return [m.start() for m in _HEADING.finditer(text)]


@dataclass
class _Seen:
    offset: int
    entity: Entity
    subject: bool


@dataclass
class SectionMemory:
    """What a section has named so far, most recent last."""

    seen: list[_Seen] = field(default_factory=list)

    def nearest(
        self,
        offset: int,
        window: int,
        types: frozenset[str] | None = None,
        exclude: frozenset[str] = frozenset(),
        subject: bool = False,
    ) -> Entity | None:
        for s in reversed(self.seen):
            if offset - s.offset > window:
                return None
            if types is not None and s.entity.type not in types:
                continue
            if s.entity.type in exclude or (subject and not s.subject):
                continue
            return s.entity
        return None

    def described(
        self, offset: int, window: int, noun: str, descriptions: dict[str, set[str]]
    ) -> Entity | None:
        """The nearest entity said to be a ``noun`` or with ``noun`` in its name ("the wall")."""
        recent = [s for s in self.seen if offset - s.offset <= window]
        for s in reversed(recent):  # what it was said to be first, then its name
            if noun in descriptions.get(s.entity.id, ()):
                return s.entity
        for s in reversed(recent):
            if noun in _name_nouns(s.entity.name):
                return s.entity
        return None


def _name_nouns(name: str) -> set[str]:
    words = re.findall(r"[a-z]+", name.lower())
    return set(words) | {w[:-1] for w in words if w.endswith("s")}


class Coreference:
    """Resolves anaphors of one document, chunk by chunk, in reading order."""

    def __init__(self, ontology: Ontology, document_text: str) -> None:
        self.nouns: dict[str, set[str]] = {}
        self.pronouns: dict[str, set[str]] = {}
        self.parts: dict[str, set[str]] = {}
        for t in ontology.entity_types:
            for word in t.anaphors:
                target = self.pronouns if word in {"he", "she", "him", "her"} else self.nouns
                target.setdefault(word, set()).add(t.name)
            for word in t.parts:
                self.parts.setdefault(word, set()).add(t.name)
        self.persons = frozenset(t for ts in self.pronouns.values() for t in ts)
        self.starts = section_starts(document_text)
        self.memory = SectionMemory()
        self.section = -1
        self.done_until = -1  # chunks overlap: each document offset is read once
        self.descriptions: dict[str, set[str]] = {}  # entity id -> nouns it was said to be

    def _section_of(self, offset: int) -> int:
        return sum(1 for s in self.starts if s <= offset)

    def chunk(
        self, chunk_start: int, doc: Any, owner: Sequence[Entity | None]
    ) -> dict[int, Entity]:
        """token index -> the entity the anaphor at that token refers to (one chunk)."""
        found: dict[int, Entity] = {}
        for tok in doc:
            offset = chunk_start + tok.idx
            if offset <= self.done_until:
                continue
            section = self._section_of(offset)
            if section != self.section:
                self.section, self.memory = section, SectionMemory()
            ent = owner[tok.i]
            if ent is not None:
                if tok.i == 0 or owner[tok.i - 1] is not ent:
                    root = tok
                    while root.head.i != root.i and owner[root.head.i] is ent:
                        root = root.head
                    subject = root.dep_ in {"nsubj", "nsubjpass"}
                    self.memory.seen.append(_Seen(offset, ent, subject))
                continue
            target = self.resolve(tok, offset)
            if target is not None:
                found[tok.i] = target
                subject = tok.dep_ in {"nsubj", "nsubjpass"}
                self.memory.seen.append(_Seen(offset, target, subject))
        if len(doc):
            last = doc[-1]
            self.done_until = max(self.done_until, chunk_start + last.idx)
        return found

    def resolve(self, tok: Token, offset: int) -> Entity | None:
        low = tok.lower_
        if tok.pos_ == "PRON":
            if low in IT:
                return self.memory.nearest(
                    offset, IT_WINDOW, exclude=self.persons, subject=True
                ) or (self.memory.nearest(offset, IT_WINDOW, exclude=self.persons))
            if low in self.pronouns:
                types = frozenset(self.pronouns[low])
                return self.memory.nearest(offset, IT_WINDOW, types, subject=True) or (
                    self.memory.nearest(offset, NOUN_WINDOW, types)
                )
            return None
        if tok.pos_ != "NOUN":
            return None
        lemma = tok.lemma_.lower()
        children = list(tok.children)
        if any(c.dep_ == "compound" or c.pos_ == "PROPN" for c in children):
            return None  # "the Running Clusters project" names itself
        indefinite = any(c.dep_ == "det" and c.lower_ in {"a", "an", "every", "each", "some"}
                         for c in children)  # fmt: skip
        if (
            lemma in self.parts
            and not indefinite
            and not any(c.dep_ == "prep" and c.lower_ == "of" for c in children)
        ):
            return self.memory.nearest(offset, NOUN_WINDOW, frozenset(self.parts[lemma]))
        definite = any(c.dep_ == "det" and c.lower_ in DEFINITE for c in children)
        if lemma in self.nouns and definite:
            found = self.memory.nearest(offset, NOUN_WINDOW, frozenset(self.nouns[lemma]))
            if found is not None:
                return found
        if definite and all(c.dep_ in {"det", "punct"} for c in children):
            return self.memory.described(offset, NOUN_WINDOW, lemma, self.descriptions)
        return None

    def describe(self, entity_id: str, noun: str) -> None:
        """Remember what an entity was said to be ("X is a river"), for "the river" later."""
        self.descriptions.setdefault(entity_id, set()).add(noun)
