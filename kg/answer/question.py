"""The question, analysed once: what it asks for, its terms, and the entities it names.

Every later step (retrieval, context, candidates, citations, the LLM prompt) reads this model;
none tokenises the question again. The expected answer type comes from the wh-word ("who" ->
Person, "how many" -> number, "when" -> date) or from the noun after "which"/"what", matched
against the ontology's type names, aliases and structure keywords ("which course" -> Course,
"which app/library" -> Tool), so a new ontology brings its own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from kg.answer.words import content_words, stem, terms

NUMBER = "number"
DATE = "date"
_WH = re.compile(
    r"\b(how many|how much|how long|how old|what year|what day|what date|which day|"
    r"who(?:m|se)?|when|where|which|what|why|how)\b",
    re.IGNORECASE,
)
_AFTER = re.compile(r"\b(?:which|what|whose)\s+([^?,;]*)", re.IGNORECASE)
_STOP_FOCUS = frozenset(
    [
        "did",
        "do",
        "does",
        "was",
        "were",
        "is",
        "are",
        "has",
        "have",
        "had",
        "can",
        "could",
        "would",
        "will",
        "should",
        "i",
        "we",
        "my",
        "you",
        "of",
        "in",
        "on",
        "for",
        "from",
        "to",
        "that",
        "with",
        "by",
        "at",
        "about",
        "as",
        "when",
    ]
)
FOCUS_WORDS = 4
NUMBER_NOUNS = frozenset({"number", "amount", "count", "size", "score", "percentage", "rate",
                          "epsilon", "value", "length", "duration"})  # fmt: skip
_OVERVIEW = re.compile(
    r"\b(summar\w*|overview|gist|tl;?dr|main (topics?|points?|ideas?|themes?))\b"
    r"|\bwhat(?:'s| is| are| was)\b.{0,80}\babout\s*\??\s*$"
    r"|\bwhat did (?:i|we) (?:do|learn|cover|study)\b",
    re.IGNORECASE,
)
_COMPOUND_SPLIT = re.compile(
    r",?\s+and\s+(?=(?:who|what|which|how|where|when|why)\b)|\?\s+", re.IGNORECASE
)
_COMPOUND = re.compile(r",?\s+and\s+(?:who|what|which|how|where|when|why)\b", re.IGNORECASE)
_REFERS_BACK = re.compile(
    r"\b(it|its|they|them|their|that|this|those|these|he|she|him|her)\b", re.IGNORECASE
)
PERSON_WORDS = ("person", "people", "teacher", "professor", "instructor", "author", "speaker")
_WH_TYPES = {"who": "Person", "whom": "Person", "whose": "Person", "where": "Location"}
_KIND_WORDS = ("kind", "type", "sort")


class LinkedEntity(BaseModel):
    """An entity of the graph the question names."""

    id: str
    name: str
    type: str


class Question(BaseModel):
    """What the answer path knows about the question (built by ``analyse``)."""

    text: str
    search_text: str = ""  # what retrieval reads: the question (and the one it follows up)
    wh: str = ""  # "which", "who", "how many", ... ("" for an imperative or yes/no question)
    focus: str = ""  # the noun phrase after which/what ("UI library")
    expected: str | None = None  # an ontology entity type, "number", "date", or None
    words: list[str] = Field(default_factory=list)  # content words, in order
    terms: list[str] = Field(default_factory=list)  # their stems (hyphen parts too)
    key_terms: list[str] = Field(default_factory=list)  # terms that are not the focus noun
    entities: list[LinkedEntity] = Field(default_factory=list)
    overview: bool = False
    compound: bool = False  # asks two things ("who ..., and what ...?")
    soft: bool = False  # the expected type is a guess ("where" may be a place or a source)

    def parts(self) -> list[str]:
        """The sub-questions of a compound question ("Who X, and what Y?" -> both)."""
        pieces = _COMPOUND_SPLIT.split(self.text)
        return [p.strip(" ,?") + "?" for p in pieces if p.strip(" ,?")] if self.compound else []

    @property
    def term_set(self) -> set[str]:
        return set(self.terms)

    def expects_entity(self) -> bool:
        return self.expected not in (None, NUMBER, DATE)


def type_words(ontology: Any) -> dict[str, str]:
    """Stem of a word -> the ontology type it names (type names, aliases, structure keywords)."""
    out: dict[str, str] = {}
    if ontology is None:
        return out
    for kind in ontology.structure.kinds:
        for word in kind.keywords:
            out.setdefault(stem(word.split()[-1]), kind.type)
    for t in ontology.entity_types:
        for word in (t.name, *t.aliases):
            for part in re.split(r"[/\s]+", word):
                if part:
                    out[stem(part)] = t.name
    return out


def analyse(
    text: str,
    ontology: Any = None,
    link: Callable[[str], Sequence[Any]] | None = None,
    previous: str = "",
) -> Question:
    """The Question for ``text``; ``link(text)`` returns the graph entities it names;
    ``previous`` (the last question of a conversation) lends its terms to a follow-up that
    refers back ("Who teaches it?")."""
    text = " ".join(text.split())
    follow = previous if previous and _REFERS_BACK.search(text) else ""
    m = _WH.search(text)
    wh = m.group(1).lower() if m else ""
    focus = ""
    expected: str | None = None
    if wh in ("how many", "how much", "how long", "how old"):
        expected = NUMBER
    elif wh in ("when", "what year", "what day", "what date", "which day"):
        expected = DATE
    elif wh in ("which", "what", "whose"):
        fm = _AFTER.search(text)
        focus = _focus(fm.group(1)) if fm else ""
        expected, upto = _focus_type(focus, type_words(ontology))
        focus = " ".join(focus.split()[: upto + 1]) if expected else focus
        if expected is None and wh == "whose":
            expected = "Person"
    if expected is None and wh in _WH_TYPES:
        expected = _WH_TYPES[wh]
    soft = wh == "where" or (wh == "what" and expected not in (None, NUMBER, DATE))
    if ontology is not None and expected not in (None, NUMBER, DATE, *ontology.entity_names):
        expected = None
    found = (terms(text) | terms(follow)) - terms(wh if " " in wh else "")
    focus_terms = terms(focus) if expected is not None else set()
    search_text = f"{text} {follow}".strip()
    linked = link(search_text) if link else []
    entities = [LinkedEntity(id=e.id, name=e.name, type=e.type) for e in linked]
    return Question(
        text=text,
        search_text=search_text,
        wh=wh,
        focus=focus,
        expected=expected,
        words=content_words(text),
        terms=sorted(found),
        key_terms=sorted(found - focus_terms) or sorted(found),
        entities=entities,
        overview=bool(_OVERVIEW.search(text)),
        compound=bool(_COMPOUND.search(text)) or text.count("?") > 1,
        soft=soft,
    )


def _focus(after: str) -> str:
    """The noun phrase right after which/what, up to the first verb-like word."""
    out: list[str] = []
    for word in after.split()[:FOCUS_WORDS]:
        if word.lower() in _STOP_FOCUS:
            break
        out.append(word)
    return " ".join(out)


def _focus_type(focus: str, words: dict[str, str]) -> tuple[str | None, int]:
    """The type the focus phrase names: its last word that names one ("UI library" -> Tool);
    "kind of X" asks for a category, not an X."""
    parts = [w.lower() for w in focus.split()]
    if parts and parts[0] in _KIND_WORDS:
        return None, 0
    for i, word in enumerate(parts):
        if word in PERSON_WORDS:
            return "Person", i
        if stem(word) in {stem(n) for n in NUMBER_NOUNS}:
            return NUMBER, i
        found = words.get(stem(word))
        if found:
            return found, i
    return None, 0
