"""Words and spans of text for answering: terms, light stems, and sentence/row units.

A unit is a sentence, or a whole line when the line is a table row, a bullet or a heading:
that is what a citation points at, so a citation names the sentence that states a fact rather
than the whole chunk.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.\-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_ABBREV = re.compile(r"(?:^|[\s(])(?:[A-Za-z]|e\.g|i\.e|vs|Dr|Mr|Mrs|Ms|Prof|etc|no)\.$")
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by did do does for from had has have how i in is it its me my of "
        "on or that the their them then there these this to was were what when where which who "
        "whom why will with you your about into than also can could should would used use using "
        "according notes note some any all one two both",
    )
)
MIN_UNIT_WORDS = 2


def stem(word: str) -> str:
    """A light stem, so "covered", "covers" and "covering" meet (no library: two lines)."""
    w = word.lower().strip(".-")
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w[:-1] if len(w) > 4 and w.endswith("e") else w  # "subscribe" meets "subscribing"


def terms(text: str) -> set[str]:
    """Content-word stems of ``text``; a hyphenated word also gives its parts ("K-means" meets
    "K means")."""
    words = _WORD.findall(text)
    words += [part for w in words if "-" in w for part in w.split("-")]
    return {stem(w) for w in words if w.lower().strip(".-") not in _STOP} - {""}


def units(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or row of ``text``, offsets into ``text``."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        lo, hi = pos, pos + len(line)
        pos = hi + 1
        stripped = line.strip()
        if not stripped:
            continue
        lo += len(line) - len(line.lstrip())
        hi -= len(line) - len(line.rstrip())
        if "|" in stripped:  # a table row is one unit
            pieces = [(lo, hi)]
        else:
            pieces, start = [], lo
            for m in _SENTENCE_END.finditer(text, lo, hi):
                if _ABBREV.search(text, max(lo, m.start() - 6), m.start()):
                    continue  # "Yuki M. Asano", "e.g. this": not a sentence end
                pieces.append((start, m.start()))
                start = m.end()
            pieces.append((start, hi))
        spans += [(a, b) for a, b in pieces if len(_WORD.findall(text[a:b])) >= MIN_UNIT_WORDS]
    return spans


def idf(docs: Sequence[set[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency of each term over ``docs``."""
    df: dict[str, int] = {}
    for d in docs:
        for t in d:
            df[t] = df.get(t, 0) + 1
    n = len(docs)
    return {t: math.log(1 + (n + 1) / (c + 0.5)) for t, c in df.items()}


def weight(query: set[str], unit: set[str], weights: dict[str, float]) -> float:
    return sum(weights.get(t, 1.0) for t in query & unit)


def contains_name(text: str, name: str) -> bool:
    """Whether ``name`` occurs in ``text`` (case-insensitive, all its content words)."""
    low = text.lower()
    if name.lower() in low:
        return True
    name_terms = terms(name)
    return bool(name_terms) and name_terms <= terms(text)


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def adds_nothing(answer: str, question: str) -> bool:
    """An answer whose every content word is the question's ("The course covered K-means")."""
    return not (terms(answer) - terms(question))


def key_terms(answer: str, question: str) -> set[str]:
    """The answer's own terms (what it adds to the question); all its terms if it adds none."""
    found = terms(answer)
    new = found - terms(question)
    return new or found


def support(answer_terms: Iterable[str], passage: str) -> float:
    """Share of the answer's key terms that the passage states."""
    wanted = set(answer_terms)
    if not wanted:
        return 0.0
    return len(wanted & terms(passage)) / len(wanted)
