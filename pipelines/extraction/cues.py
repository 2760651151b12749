"""Relation cues of the ontology (``cues:`` of each relation type), matched on the parse.

A clause (``openie.Clause``) names a relation when its verb lemma (with particle/preposition)
is one of a type's cues; which argument is the head follows the cue's voice (``RelationCues``
in kg/ontology.py): "the course covers PCA", "PCA is covered in the course", "the course is
taught by Dr. Smith", "Dr. Smith teaches the course" all come out Course -> other. Noun frames
("A is the instructor of B", "B's author, A") and prepositions ("the book by A", "X via Y") are
read straight from the dependency arcs between the two mentions. The ontology's head/tail type
rules then accept or refuse each reading, so a cue never joins types its relation does not allow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kg.ontology import Ontology
from pipelines.extraction.openie import Clause, expand, kind_of

Token = Any
# prepositions that, after a passive verb without its own cue, introduce the active subject
PASSIVE_AGENTS = frozenset({"by", "in", "at", "on", "during", "throughout"})
SOURCE_PREPS = frozenset({"from", "in", "through", "during", "via"})


@dataclass(frozen=True)
class Reading:
    """One relation a cue suggests for (first, second) argument: ``first_is_head`` orients it."""

    relation: str
    first_is_head: bool
    cue: str


class CueBook:
    """The ontology's cues indexed by lemma (and preposition)."""

    def __init__(self, ontology: Ontology, nlp: Any = None) -> None:
        self.ontology = ontology
        self.verbs: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        self.passive: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.agent_nouns: dict[str, list[str]] = defaultdict(list)
        self.nouns: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.preps: dict[str, list[str]] = defaultdict(list)
        self.sources: dict[str, list[str]] = defaultdict(list)
        lemma = _lemmatizer(nlp)
        for rel in ontology.relation_types:
            c = rel.cues
            for phrase in c.verbs:
                words = phrase.split()
                self.verbs[(lemma(words[0]), " ".join(words[1:]) or None)].append(rel.name)
            for phrase in c.passive:
                verb, prep = phrase.split()
                self.passive[(lemma(verb), prep)].append(rel.name)
            for noun in c.agent_nouns:
                self.agent_nouns[noun.split()[0]].append(rel.name)
            for phrase in c.nouns:
                noun, prep = phrase.split()
                self.nouns[(noun, prep)].append(rel.name)
            for prep in c.preps:
                self.preps[prep].append(rel.name)
            for verb in c.sources:
                self.sources[lemma(verb)].append(rel.name)

    def __bool__(self) -> bool:
        return any((self.verbs, self.passive, self.agent_nouns, self.nouns, self.preps))

    def clause(self, clause: Clause, prep: str | None) -> list[Reading]:
        """Readings of a verb clause for (subject, object-after-``prep``)."""
        lemma = clause.lemma
        phrase = " ".join([lemma, *clause.particles, *([prep] if prep else [])])
        particle = " ".join(clause.particles) or None
        out: list[Reading] = []
        if clause.negated or clause.kind in {"appos", "hearst"}:
            return out
        key_prep = " ".join([*clause.particles, *([prep] if prep else [])]) or None
        if not clause.passive:
            out += [Reading(r, True, phrase) for r in self.verbs.get((lemma, key_prep), [])]
            if prep is None:  # "Dr. Smith taught the course": the object is the head
                for (verb, p), rels in self.passive.items():
                    if verb == lemma and p == "by":
                        out += [Reading(r, False, f"{verb} {p}") for r in rels]
            return out
        if prep is not None:
            out += [Reading(r, True, phrase) for r in self.passive.get((lemma, prep), [])]
            out += [Reading(r, True, phrase) for r in self.verbs.get((lemma, prep), [])]
            if prep in PASSIVE_AGENTS:  # "PCA is covered in the course"
                out += [Reading(r, False, lemma) for r in self.verbs.get((lemma, particle), [])]
        return out

    def source_pairs(self, clause: Clause) -> Iterator[tuple[Token, Token, Reading]]:
        """(source, topic, reading) for "learned X (and Y) from/in Z" (Z -> X)."""
        rels = self.sources.get(clause.lemma)
        if not rels or clause.negated or clause.passive:
            return
        topics = [o for o, p in clause.objects if p in {None, "about", "on"}]
        sources = [o for o, p in clause.objects if p in SOURCE_PREPS]
        pairs = [(src, topic) for src in sources for topic in topics]
        for topic in topics:  # "about X from Y": the parser hangs "from Y" on X
            for p in topic.children:
                if p.dep_ == "prep" and p.lower_ in SOURCE_PREPS:
                    pairs += [(o, t) for c in p.children if c.dep_ == "pobj"
                              for o in expand(c) for t in expand(topic)]  # fmt: skip
        for src, topic in pairs:
            for r in rels:
                yield src, topic, Reading(r, True, f"{clause.lemma} from")

    def frames(self, sent: Any) -> Iterator[tuple[Token, Token, Reading]]:
        """(first, second, reading) from noun frames and preposition cues in one sentence."""
        for tok in sent:
            if tok.pos_ in {"NOUN", "PROPN"}:
                yield from self._agent_noun(tok, tok.lemma_.lower())
                yield from self._relational_noun(tok, tok.lemma_.lower())
            if tok.dep_ == "prep" and tok.lower_ in self.preps:
                for gov in _governors(tok):
                    for obj in (c for c in tok.children if c.dep_ == "pobj"):
                        for o in expand(obj):
                            for r in self.preps[tok.lower_]:
                                yield gov, o, Reading(r, True, tok.lower_)

    def _identified(self, noun: Token) -> list[Token]:
        """Who a noun names: "A is the N", "the N is A", "A, the N", "N A", "the N, A"."""
        out: list[Token] = []
        head = noun.head
        if noun.dep_ == "attr" and head.lemma_ == "be":
            out += [c for c in head.children if c.dep_ == "nsubj"]
        if noun.dep_ == "nsubj" and head.lemma_ == "be":
            out += [c for c in head.children if c.dep_ == "attr"]
        if noun.dep_ == "appos":
            out.append(head)
        out += [c for c in noun.children if c.dep_ == "appos"]
        if noun.dep_ == "compound" and head.pos_ == "PROPN":  # "instructor Jane Smith"
            out.append(head)
        return [x for o in out for x in expand(o)]

    def _owner(self, noun: Token, preps: tuple[str, ...]) -> list[Token]:
        """What a relational noun is of: its "of" object or its possessor ("the course's N")."""
        out = [c for c in noun.children if c.dep_ == "poss" and c.pos_ != "PRON"]
        for p in noun.children:
            if p.dep_ == "prep" and p.lower_ in preps:
                out += [c for c in p.children if c.dep_ == "pobj"]
        return [x for o in out for x in expand(o)]

    def _agent_noun(self, tok: Token, lemma: str) -> Iterator[tuple[Token, Token, Reading]]:
        rels = self.agent_nouns.get(lemma)
        if not rels:
            return
        for who in self._identified(tok):
            for of in self._owner(tok, ("of", "for", "at", "on")):
                for r in rels:
                    yield of, who, Reading(r, True, lemma)

    def _relational_noun(self, tok: Token, lemma: str) -> Iterator[tuple[Token, Token, Reading]]:
        for p in tok.children:
            rels = self.nouns.get((lemma, p.lower_)) if p.dep_ == "prep" else None
            if not rels:
                continue
            targets = [o for c in p.children if c.dep_ == "pobj" for o in expand(kind_of(c))]
            for who in self._identified(tok):
                for t in targets:
                    for r in rels:
                        yield who, t, Reading(r, True, f"{lemma} {p.lower_}")


def _governors(prep: Token) -> list[Token]:
    """What a preposition cue hangs on: its noun, or the object of its active verb
    ("I read X by Y": the parser's attachment to the verb is the usual ambiguity)."""
    head = prep.head
    if head.pos_ in {"NOUN", "PROPN"}:
        return [head]
    if head.pos_ == "VERB" and not any(c.dep_ in {"nsubjpass", "auxpass"} for c in head.children):
        return [c for c in head.children if c.dep_ == "dobj" and c.i < prep.i]
    return []


def _lemmatizer(nlp: Any = None) -> Any:
    """A cue verb's lemma as the parsing pipeline will give it ("taught" -> "teach")."""
    if nlp is None:
        from pipelines.extraction.candidates import load_spacy

        nlp = load_spacy()
    cache: dict[str, str] = {}

    def lemma(word: str) -> str:
        if word not in cache:
            doc = nlp(f"They {word} it")
            cache[word] = doc[1].lemma_.lower() if len(doc) > 1 else word
        return cache[word]

    return lemma


def fits(ontology: Ontology, relation: str, head_type: str, tail_type: str) -> bool:
    """The type rules: a symmetric relation may be read either way."""
    if ontology.allows(relation, head_type, tail_type):
        return True
    rel = ontology.relation_type(relation)
    return bool(rel and rel.symmetric and ontology.allows(relation, tail_type, head_type))
