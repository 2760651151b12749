"""Conservative name matching for graph evaluation: a gold name against a graph's entity names.

A graph is judged on whether it holds the entity a fact names, so the matcher forgives spelling
variants ("K means" / "K-means" / "KMeans", "GANs" / "GAN", "Anomlay" / "anomaly") and acronyms
("PCA" / "principal component analysis"), but never a different word: tokens are compared whole,
so "supervised" never matches "unsupervised" and "PCA" never matches "ICA".
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from kg.models import Entity
from kg.text import normalize_name, singular, words

# Words that name the kind of thing rather than the thing ("K-means clustering algorithm").
GENERIC_TOKENS = frozenset({"algorithm", "method", "technique", "approach", "the", "a", "an"})
RULES = ("exact", "alias", "canonical", "acronym", "fuzzy")  # strongest first
MIN_FUZZY_TOKEN = 5  # shorter tokens (PCA, ICA, L1, GPT) must match exactly
_PAREN = re.compile(r"\(([^()]*)\)")


def tokens(name: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFKC", name)
    return tuple(singular(t) for t in words(text, split_apostrophes=True))


def variants(name: str) -> list[str]:
    """The name, the name without its parenthesis, and what the parenthesis holds.

    A parenthesis left open ("Bleu(Bilingual Evaluation Understudy") runs to the end."""
    out = [name]
    closed = name + ")" if name.count("(") > name.count(")") else name
    inner = [m.strip() for m in _PAREN.findall(closed) if m.strip()]
    outer = _PAREN.sub(" ", closed).strip()
    if inner and outer:
        out.append(outer)
        out.extend(inner)
    return out


def _joined(toks: tuple[str, ...]) -> str:
    return "".join(toks)


def _acronym_of(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    if len(short) != 1 or len(long) < 2 or not short[0].isalpha() or not 2 <= len(short[0]) <= 6:
        return False
    initials = "".join(t[0] for t in long if t not in GENERIC_TOKENS)
    return short[0] == initials


def _token_close(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < MIN_FUZZY_TOKEN or a[0] != b[0]:
        return False
    if any(c.isdigit() for c in a + b):
        return False
    return OSA.distance(a, b, score_cutoff=1) <= 1


def fuzzy_equal(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Same words, in any order, ignoring generic ones; a word may differ by one typo."""
    left = sorted(t for t in a if t not in GENERIC_TOKENS)
    right = sorted(t for t in b if t not in GENERIC_TOKENS)
    if not left or len(left) != len(right):
        return False
    pool = list(right)
    for tok in left:
        hit = next((i for i, other in enumerate(pool) if _token_close(tok, other)), None)
        if hit is None:
            return False
        pool.pop(hit)
    return True


@dataclass(frozen=True)
class NameMatch:
    entity: Entity
    rule: str  # one of RULES

    @property
    def strength(self) -> int:
        return RULES.index(self.rule)


class NameIndex:
    """Entity names, aliases and their canonical forms, ready to look gold names up in."""

    def __init__(self, entities: list[Entity]) -> None:
        self.entities = entities
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._alias: dict[str, list[int]] = defaultdict(list)
        self._canon: dict[str, list[int]] = defaultdict(list)
        self._tokens: list[list[tuple[str, ...]]] = []
        for i, ent in enumerate(entities):
            self._exact[normalize_name(ent.name)].append(i)
            for alias in ent.aliases:
                self._alias[normalize_name(alias)].append(i)
            forms = [tokens(v) for n in (ent.name, *ent.aliases) for v in variants(n)]
            forms = [f for f in dict.fromkeys(forms) if f]
            for form in forms:
                self._canon[_joined(form)].append(i)
            self._tokens.append(forms)

    def match(self, name: str, allowed: set[int] | None = None) -> list[NameMatch]:
        """Every entity the name matches (best rule per entity), strongest first.

        ``allowed`` limits the answer to those entity positions (e.g. entities of one file)."""
        best: dict[int, str] = {}

        def add(idxs: list[int], rule: str) -> None:
            for i in idxs:
                if (allowed is None or i in allowed) and i not in best:
                    best[i] = rule

        key = normalize_name(name)
        add(self._exact.get(key, []), "exact")
        add(self._alias.get(key, []), "alias")
        gold_forms = [f for f in dict.fromkeys(tokens(v) for v in variants(name)) if f]
        for form in gold_forms:
            add(self._canon.get(_joined(form), []), "canonical")
        candidates = range(len(self.entities)) if allowed is None else sorted(allowed)
        for i in candidates:
            if i in best:
                continue
            forms = self._tokens[i]
            if any(_acronym_of(g, f) or _acronym_of(f, g) for g in gold_forms for f in forms):
                best[i] = "acronym"
            elif any(fuzzy_equal(g, f) for g in gold_forms for f in forms):
                best[i] = "fuzzy"
        found = [NameMatch(self.entities[i], rule) for i, rule in best.items()]
        return sorted(found, key=lambda m: (m.strength, m.entity.name))
