"""Entity and relation types, loaded from a YAML file.

Types end up as Cypher labels and relationship types, which cannot be parameterised, so the
ontology is the only place they may come from and every name is checked to be identifier-safe.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kg.errors import BadInput, NotFound

BUILTIN_DIR = Path(__file__).parent / "ontologies"
_LABEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_REL = re.compile(r"^[A-Z][A-Z0-9_]*$")


class EntityType(BaseModel):
    name: str
    description: str = ""
    label: str = ""  # the external name (e.g. SciERC's), when it differs from ``name``
    aliases: list[str] = Field(default_factory=list)  # other spellings an LLM may use
    spacy_labels: list[str] = Field(default_factory=list)
    trained_labels: list[str] = Field(default_factory=list)  # labels of kg's trained NER (SciERC)
    names: list[str] = Field(default_factory=list)  # a gazetteer: spans the ruler gives this type
    # context cues: "the X library", "pip install X", "X.com" (X marks the name); a name seen in
    # one gets this type (pipelines/extraction/entity_types.py)
    context: list[str] = Field(default_factory=list)
    # ... and cues in code or addresses ("pip install X", "X.com"), where X may be any identifier
    code_context: list[str] = Field(default_factory=list)
    # nouns an anaphor uses for this type ("the course", "this library": coref.py)
    anaphors: list[str] = Field(default_factory=list)
    # nouns for a part of one ("Week 3", "Chapter 6"): a part without "of X" is the nearest one
    parts: list[str] = Field(default_factory=list)

    @field_validator("context", "code_context")
    @classmethod
    def _templates(cls, v: list[str]) -> list[str]:
        for t in v:
            if not _one_x(t):
                raise ValueError(f"context cue {t!r} must name the entity once, as X")
        return v

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _LABEL.match(v):
            raise ValueError(f"entity type {v!r} is not a safe label (CamelCase letters/digits)")
        return v


def _one_x(template: str) -> bool:
    """A context cue names its entity exactly once, as the word ``X``."""
    return len(re.findall(r"(?<![A-Za-z])X(?![A-Za-z])", template)) == 1


class RelationCues(BaseModel):
    """Language that states a relation, matched on the dependency parse (extraction/cues.py).

    ``verbs``: a lemma, optionally with a particle or preposition ("cover", "build on"): the
    subject is the head, the object (or the preposition's object) the tail; in the passive
    without a preposition the roles swap ("PCA is covered in the course"). ``passive``:
    "taught by", "used for": the passive subject is the head, the preposition's object the tail
    (so "Y taught X" gives X -> Y). ``agent_nouns``: "instructor", "author": "A is the N of B",
    "B's N, A" give B -> A. ``nouns``: "part of", "introduction to": "A is (a) N B" gives A -> B.
    ``preps``: "with", "via", "by": a noun -prep-> noun reads head -> tail. ``sources``:
    "learn", "read": "<verb> X from/in Y" gives Y -> X, whoever the subject is.
    """

    model_config = ConfigDict(extra="forbid")

    verbs: list[str] = Field(default_factory=list)
    passive: list[str] = Field(default_factory=list)
    agent_nouns: list[str] = Field(default_factory=list)
    nouns: list[str] = Field(default_factory=list)
    preps: list[str] = Field(default_factory=list)
    # "I learned X from Y", "implemented X from the book": Y is the head, X the tail
    sources: list[str] = Field(default_factory=list)

    @field_validator("verbs", "passive", "agent_nouns", "nouns", "preps", "sources")
    @classmethod
    def _phrases(cls, v: list[str]) -> list[str]:
        out = []
        for phrase in v:
            words = phrase.lower().split()
            if not words or len(words) > 3 or not all(re.fullmatch(r"[a-z][a-z'-]*", w)
                                                      for w in words):  # fmt: skip
                raise ValueError(f"cue {phrase!r}: one to three lower-case words")
            out.append(" ".join(words))
        return out

    @model_validator(mode="after")
    def _passive_by(self) -> RelationCues:
        for phrase in [*self.passive, *self.nouns]:
            if len(phrase.split()) != 2:
                raise ValueError(f"cue {phrase!r} must be a verb or noun and a preposition")
        return self


class RelationType(BaseModel):
    name: str
    description: str = ""
    label: str = ""
    head: list[str] = Field(default_factory=list)  # empty = any entity type
    tail: list[str] = Field(default_factory=list)
    symmetric: bool = False
    # labels of kg's trained relation model that mean this type, head -> tail as annotated ...
    trained_labels: list[str] = Field(default_factory=list)
    # ... or tail -> head ("A USED-FOR B" is "B USES A")
    trained_labels_reversed: list[str] = Field(default_factory=list)
    cues: RelationCues = Field(default_factory=RelationCues)

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _REL.match(v):
            raise ValueError(f"relation type {v!r} is not a safe type (UPPER_SNAKE_CASE)")
        return v


class StructureKind(BaseModel):
    """A kind of table column or list label, named by header words ("Topics Covered" -> topic)."""

    name: str
    type: str  # the entity type its cells get
    keywords: list[str]  # singular, lower case; a header or label word matching one names the kind
    suffixes: list[str] = Field(default_factory=list)  # a name ending in one gets this type
    split_and: bool = True  # "a and b" is two items (false for titles: "ML with X and Y")
    # header words that name one item of the kind ("Accuracy"): such a column of numbers relates
    # each row to the header itself
    header_names: list[str] = Field(default_factory=list)


class StructureRelation(BaseModel):
    """Items of kind ``head`` relate to items of kind ``tail`` in one row, section or record."""

    head: str
    tail: str
    type: str


class StructureRules(BaseModel):
    """The declarative part of structure-aware extraction (tables, headings, ``Label:`` lines)."""

    kinds: list[StructureKind] = Field(default_factory=list)  # earlier kinds win ties
    relations: list[StructureRelation] = Field(default_factory=list)
    max_words: int = 8  # longer cells and items are prose, not names
    # a label "Types of X" (or "Kinds of X", …) lists kinds of X: each item -subtype_relation-> X
    subtype_labels: list[str] = Field(default_factory=list)
    subtype_relation: str = "IS_A"


class Ontology(BaseModel):
    name: str
    description: str = ""
    entity_types: list[EntityType]
    relation_types: list[RelationType]
    fallback_entity_type: str = "Concept"
    structure: StructureRules = Field(default_factory=StructureRules)
    # the one type of an open relation no cue names (its verb phrase goes in ``predicate``)
    open_relation: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Ontology:
        names = {t.name for t in self.entity_types}
        if self.fallback_entity_type not in names:
            raise ValueError(f"fallback type {self.fallback_entity_type!r} is not an entity type")
        for rel in self.relation_types:
            unknown = [t for t in rel.head + rel.tail if t not in names]
            if unknown:
                raise ValueError(f"relation {rel.name} names unknown entity types {unknown}")
        kinds = {k.name for k in self.structure.kinds}
        for kind in self.structure.kinds:
            if kind.type not in names:
                raise ValueError(f"structure kind {kind.name} has unknown type {kind.type!r}")
        rel_names = {r.name for r in self.relation_types}
        if self.open_relation is not None and self.open_relation not in rel_names:
            raise ValueError(f"open_relation {self.open_relation!r} is not a relation type")
        if self.structure.subtype_labels and self.structure.subtype_relation not in rel_names:
            raise ValueError(f"structure subtype_relation {self.structure.subtype_relation!r}")
        for sr in self.structure.relations:
            if sr.head not in kinds or sr.tail not in kinds or sr.type not in rel_names:
                raise ValueError(f"structure relation {sr} names an unknown kind or relation")
            types = {k.name: k.type for k in self.structure.kinds}
            if not self.allows(sr.type, types[sr.head], types[sr.tail]):
                raise ValueError(f"structure relation {sr}: {sr.type} does not allow those types")
        return self

    @property
    def entity_names(self) -> list[str]:
        return [t.name for t in self.entity_types]

    @property
    def relation_names(self) -> list[str]:
        return [t.name for t in self.relation_types]

    def entity_type(self, name: str) -> EntityType | None:
        return next((t for t in self.entity_types if t.name == name), None)

    def relation_type(self, name: str) -> RelationType | None:
        return next((t for t in self.relation_types if t.name == name), None)

    def canonical_entity_type(self, raw: str) -> str | None:
        """Map a type as an LLM or a dataset spells it ("tool/library", "Method") to ours."""
        key = re.sub(r"[^a-z0-9]", "", raw.lower())
        for t in self.entity_types:
            spellings = (t.name, t.label, *t.aliases)
            if key in {re.sub(r"[^a-z0-9]", "", s.lower()) for s in spellings if s}:
                return t.name
        return None

    def canonical_relation_type(self, raw: str) -> str | None:
        key = re.sub(r"[^A-Z0-9]", "", raw.upper())
        for t in self.relation_types:
            if key in {re.sub(r"[^A-Z0-9]", "", s.upper()) for s in (t.name, t.label) if s}:
                return t.name
        return None

    def trained_entity_type(self, label: str) -> str | None:
        """Our type for a label of the trained NER (SciERC's), or None to drop the span."""
        for t in self.entity_types:
            if label in t.trained_labels:
                return t.name
        if any(t.trained_labels for t in self.entity_types):
            return None  # the ontology maps trained labels explicitly; unmapped ones are dropped
        return self.canonical_entity_type(label)

    def trained_relation_type(self, label: str) -> tuple[str, bool] | None:
        """(our type, reversed) for a label of the trained relation model, or None."""
        for t in self.relation_types:
            if label in t.trained_labels:
                return t.name, False
            if label in t.trained_labels_reversed:
                return t.name, True
        name = self.canonical_relation_type(label)
        return (name, False) if name else None

    def allows(self, relation: str, head_type: str, tail_type: str) -> bool:
        rel = self.relation_type(relation)
        if rel is None:
            return False
        return (not rel.head or head_type in rel.head) and (not rel.tail or tail_type in rel.tail)

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def load_ontology(name_or_path: str | Path = "default") -> Ontology:
    """A built-in ontology by name ("default", "scierc") or a YAML file by path."""
    return _load(str(name_or_path))


@lru_cache(maxsize=16)
def _load(name_or_path: str) -> Ontology:
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILTIN_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        builtin = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise NotFound(f"ontology {name_or_path!r} not found (built-in: {builtin})")
    try:
        return Ontology.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise BadInput(f"ontology {path}: {' '.join(str(exc).split())[:500]}") from exc
