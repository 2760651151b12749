"""Open relations from spaCy's dependency parse: subject - verb phrase - object, for any domain.

A clause gives one triple per (subject, object) pair once coordination is expanded ("A and B use
C and D" is four). Objects are direct objects, attributes of a copula ("X is a Y"), a
preposition's object ("X is based on Y") and a passive's agent ("X was written by Y"). A verb
without a subject of its own borrows one: a conjoined verb its first verb's, a relative or
participle clause the noun it hangs on ("the book written by X", "a technique to reduce Y",
where a copula's attribute hands on its subject: "R is a technique to reduce Y" -> R). Appositions
("X, a Y") and Hearst phrases ("Ys such as X", "Y, including X") give IS_A. What a clause means
is decided elsewhere (``cues.py``); here it is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Token = Any  # a spaCy Token

SUBJECTS = frozenset({"nsubj", "nsubjpass"})
OBJECTS = frozenset({"dobj", "attr", "oprd", "dative"})
WH = frozenset({"which", "that", "who", "whom", "what"})
# "a type of X", "a kind of X": the copula's attribute is really the noun after "of"
KIND_NOUNS = frozenset({"type", "kind", "form", "sort", "variant", "class", "family", "example",
                        "instance", "category", "flavor", "flavour"})  # fmt: skip
# negations the parser leaves unlabelled in notes ("maynot", "doesnot") and hedging modals
NEGATIONS = frozenset({"not", "n't", "never", "maynot", "cannot", "doesnot", "dont", "didnot",
                       "isnot", "wont", "cant"})  # fmt: skip
TENTATIVE = frozenset({"could", "might", "may", "would", "maynot"})
HYPOTHETICAL = frozenset({"if", "whether", "unless", "though", "although"})
HEARST = frozenset({"including", "like", "especially", "notably"})


@dataclass
class Clause:
    """One clause read off the parse: who does what to whom (tokens of one sentence)."""

    verb: Token
    subjects: list[Token]
    objects: list[tuple[Token, str | None]]  # (object token, the preposition before it)
    passive: bool = False
    negated: bool = False
    kind: str = "verb"  # verb | copula | appos | hearst
    particles: list[str] = field(default_factory=list)

    @property
    def lemma(self) -> str:
        return "be" if self.kind in {"copula", "appos", "hearst"} else self.verb.lemma_.lower()

    def predicate(self, prep: str | None) -> str:
        """The normalised verb phrase: "not" + lemma (or "be" + participle) + particle + prep."""
        words = ["not"] if self.negated else []
        if self.kind in {"appos", "hearst"}:
            words.append("be")
        elif self.passive:
            words += ["be", self.verb.text.lower()]
        else:
            words.append(self.lemma)
        words += self.particles
        if prep:
            words.append(prep)
        return " ".join(words)


def expand(token: Token) -> list[Token]:
    """A token and the tokens coordinated with it ("A, B and C")."""
    return [token, *token.conjuncts]


def _is_passive(verb: Token) -> bool:
    return any(c.dep_ in {"nsubjpass", "auxpass"} for c in verb.children) or (
        verb.dep_ == "acl" and verb.tag_ == "VBN"
    )


def subjects_of(verb: Token, depth: int = 0) -> list[Token]:
    """The subjects of ``verb``, borrowed from its head where it has none of its own."""
    own = [c for c in verb.children if c.dep_ in SUBJECTS]
    if own and not (verb.dep_ == "relcl" and own[0].lower_ in WH):
        return [s for o in own for s in expand(o)]
    if depth > 3:
        return []
    head = verb.head
    if verb.dep_ in {"relcl", "acl"} and head.pos_ in {"NOUN", "PROPN"}:  # "X, which uses Y"
        return [lift_attribute(head)]
    if verb.dep_ in {"conj", "xcomp"} and head.i != verb.i and head.pos_ in {"VERB", "AUX"}:
        between = verb.doc[min(head.i, verb.i) : max(head.i, verb.i)]
        if any(t.text in {":", ";", "(", ")"} for t in between):  # a list of steps, not a clause
            return []
        return subjects_of(head, depth + 1)
    return []


def lift_attribute(noun: Token) -> Token:
    """A copula's attribute stands for its subject: "R is a technique (to reduce Y)" -> R."""
    if noun.dep_ == "appos":  # "ARPANET, a project funded by X" -> ARPANET
        return noun.head
    if noun.pos_ == "NOUN" and noun.dep_ == "attr" and noun.head.lemma_ == "be":
        subj = [c for c in noun.head.children if c.dep_ == "nsubj"]
        if subj:
            return subj[0]
    return noun


def kind_of(noun: Token) -> Token:
    """ "a type of X" -> X (the noun after "of"); any other noun is itself."""
    if noun.lemma_.lower() in KIND_NOUNS:
        for prep in noun.children:
            if prep.dep_ == "prep" and prep.lower_ == "of":
                objs = [c for c in prep.children if c.dep_ == "pobj"]
                if objs:
                    return objs[0]
    return noun


def hearst_members(noun: Token) -> list[Token]:
    """ "libraries such as NumPy and Django": what is said of the libraries is said of each."""
    out: list[Token] = []
    for p in noun.children:
        such = p.lower_ == "as" and (
            any(c.lower_ == "such" for c in p.children) or p.doc[max(p.i - 1, 0)].lower_ == "such"
        )
        if p.dep_ == "prep" and (p.lower_ in HEARST or such):
            out += [o for c in p.children if c.dep_ == "pobj" for o in expand(c)]
    return out


def _noun_words(noun: Token) -> str:
    """A noun with its compounds, as a predicate word: "research", "scikit-learn"."""
    words = [t for t in noun.subtree if t.i <= noun.i and t.dep_ in {"compound", "punct"}
             and t.i >= noun.left_edge.i]  # fmt: skip
    text = "".join(t.text_with_ws for t in [*words, noun]).strip().lower()
    return text if len(text.split()) <= 3 else noun.lemma_.lower()


def noun_preps(noun: Token) -> list[tuple[Token, str]]:
    """ "is the capital of Y", "conducted research on Y": (Y, "capital of") ReVerb-style."""
    out: list[tuple[Token, str]] = []
    for p in noun.children:
        if p.dep_ == "prep":
            for y in p.children:
                if y.dep_ == "pobj":
                    out += [(o, f"{_noun_words(noun)} {p.lower_}") for o in expand(y)]
    return out


def verb_clauses(sent: Any) -> list[Clause]:
    out: list[Clause] = []
    for verb in sent:
        if verb.pos_ not in {"VERB", "AUX"} or verb.dep_ in {"aux", "auxpass", "amod", "compound"}:
            continue
        if any(c.dep_ == "mark" and c.lower_ in HYPOTHETICAL for c in verb.children):
            continue  # "whether the apple is a fruit", "if the rate is too small": not stated
        # a verb without a subject still relates its objects ("learned X from the course")
        subjects = [m for s in subjects_of(verb) for m in (s, *hearst_members(s))]
        passive = _is_passive(verb)
        copula = verb.lemma_ == "be"
        objects: list[tuple[Token, str | None]] = []
        particles = [c.lower_ for c in verb.children if c.dep_ == "prt"]
        for c in verb.children:
            if c.dep_ in OBJECTS:
                target = kind_of(c) if copula and c.dep_ == "attr" else c
                objects += [(o, None) for o in expand(target)]
                objects += noun_preps(target)
            elif c.dep_ == "xcomp" and c.tag_ == "VBG" and not list(c.children):
                objects.append((c, None))  # a gerund as object: "prevents overfitting"
            elif c.dep_ in {"prep", "agent"}:
                prep = "by" if c.dep_ == "agent" else c.lower_
                for p in c.children:
                    if p.dep_ == "pobj":
                        objects += [(o, prep) for o in expand(p)]
        if verb.dep_ == "relcl" and verb.head.pos_ in {"NOUN", "PROPN"}:
            # "the charter that King John agreed to", "the company that Bezos founded"
            wh_object = any(c.dep_ == "dobj" and c.lower_ in WH for c in verb.children)
            stranded = [
                c
                for c in verb.children
                if c.dep_ == "prep" and not any(g.dep_ == "pobj" for g in c.children)
            ]
            if wh_object or stranded:
                prep = stranded[0].lower_ if stranded and not wh_object else None
                objects = [(o, p) for o, p in objects if o.lower_ not in WH]
                objects.append((lift_attribute(verb.head), prep))
                subjects = [s for s in subjects if s.i != verb.head.i and s.lower_ not in WH]
        if not objects:
            continue
        negated = any(c.dep_ == "neg" or c.lower_ in NEGATIONS for c in verb.children) or any(
            t.lower_ == "longer" and t.nbor(-1).lower_ == "no" for t in verb.children if t.i > 0
        )
        if any(c.dep_ == "aux" and c.lower_ in TENTATIVE for c in verb.children):
            continue  # "the majority class could be healthy patients": not a statement
        has_attr = copula and any(c.dep_ == "attr" for c in verb.children)
        kind = "copula" if has_attr else "verb"
        out.append(Clause(verb, subjects, objects, passive, negated, kind, particles))
    return out


def noun_clauses(sent: Any) -> list[Clause]:
    """Appositions and Hearst phrases as IS_A clauses (subject is the specific one)."""
    out: list[Clause] = []
    for tok in sent:
        if tok.dep_ == "appos" and tok.head.pos_ in {"NOUN", "PROPN"}:
            head = tok.head
            article = any(c.dep_ == "det" and c.lower_ in {"a", "an"} for c in tok.children)
            if article:  # "X, a Y" -> X IS_A Y
                out.append(Clause(tok, [head], [(kind_of(tok), None)], kind="appos"))
            elif head.tag_ in {"NNS", "NNPS"} and tok.pos_ == "PROPN":  # "functions (ReLU, ELU)"
                out.append(Clause(tok, expand(tok), [(head, None)], kind="appos"))
        if tok.dep_ == "prep" and tok.head.pos_ in {"NOUN", "PROPN"}:
            such_as = (tok.lower_ == "as" and any(c.lower_ == "such" for c in tok.children)) or (
                tok.lower_ == "as" and tok.nbor(-1).lower_ == "such" if tok.i > 0 else False
            )
            if tok.lower_ in HEARST or such_as:
                objs = [o for c in tok.children if c.dep_ == "pobj" for o in expand(c)]
                if objs:
                    out.append(Clause(tok, objs, [(tok.head, None)], kind="hearst"))
    return out


def clauses(sent: Any) -> list[Clause]:
    """Every clause of one sentence (a spaCy Span)."""
    return verb_clauses(sent) + noun_clauses(sent)


def _phrase_start(tok: Token) -> int:
    """Where the noun phrase of ``tok`` starts: its left modifiers, not clauses before it."""
    lo = tok.i
    for c in tok.lefts:
        if c.dep_ in {"compound", "amod", "det", "nummod", "poss", "nmod", "quantmod"}:
            lo = min(lo, c.left_edge.i)
    return lo


def clause_span(clause: Clause, subj: Token, obj: Token) -> tuple[int, int]:
    """The clause's character span (chunk offsets): its verb phrase and both arguments."""
    toks = [clause.verb, subj, obj]
    # the arguments' own phrases, not the verb's whole subtree (which may reach back over a
    # list label: "- Triplet Loss: Triplet loss is a loss function")
    lo = min(_phrase_start(subj), _phrase_start(obj), clause.verb.i)
    hi = max(t.i for t in toks)
    hi = max(hi, obj.right_edge.i if obj.right_edge.i - obj.i < 12 else obj.i)
    sent = clause.verb.sent
    lo, hi = max(lo, sent.start), min(hi, sent.end - 1)
    doc = clause.verb.doc
    return doc[lo].idx, doc[hi].idx + len(doc[hi].text)
