"""Words and sentences of text for answering: content-word stems, and whole-sentence spans.

``stem`` is kg.text's Snowball stem (the same stems BM25 uses) plus English irregular past
forms ("taught" meets "teach"). A sentence
span never stops at a hard line-wrap: wrapped lines of a paragraph or bullet are joined before
splitting, while headings, bullets and table rows start units of their own, so a citation
quotes the sentence that states a fact, not a fragment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from kg.text import stem as _snowball  # the one Snowball stemmer of kg

WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#'’\-]*(?:\.[0-9]+)?")
STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "by",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "mine",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "those",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "you",
        "your",
        "we",
        "our",
        "us",
        "about",
        "into",
        "than",
        "also",
        "can",
        "could",
        "should",
        "would",
        "used",
        "use",
        "using",
        "uses",
        "according",
        "notes",
        "note",
        "some",
        "any",
        "all",
        "both",
        "get",
        "got",
        "if",
        "but",
        "so",
        "not",
        "no",
        "yes",
        "one",
        "he",
        "she",
        "his",
        "her",
        "they",
        "it's",
        "i'm",
        "do",
        "dont",
        "did",
        "didnt",
        "tell",
        "say",
        "said",
        "am",
    ]
)
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"(?:^|[\s(])(?:[A-Za-z]|e\.g|i\.e|vs|Dr|Mr|Mrs|Ms|Prof|etc|no|St|approx)\.$")
_BULLET = re.compile(r"^\s*(?:[-*•◦▪‣+]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_MARKUP = re.compile(r"\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|`")
_CAMEL = re.compile(r"[a-z][A-Z][a-z]")
_CAMEL_PART = re.compile(r"[A-Z]+[a-z]*|[a-z]+|\d+")
_GLUED = re.compile(r"([A-Za-z]{2,})(\d+)")
HEADING_CHARS = 40  # an unpunctuated line shorter than this, before a capitalised one, is a title
MIN_WORDS = 2


# English irregular past forms, so "taught" meets "teaches" (Snowball leaves them apart)
_IRREGULAR = dict(
    pair.split(":")
    for pair in [
        "taught:teach",
        "thought:think",
        "bought:buy",
        "brought:bring",
        "caught:catch",
        "fought:fight",
        "sought:seek",
        "wrote:write",
        "written:write",
        "gave:give",
        "given:give",
        "took:take",
        "taken:take",
        "made:make",
        "found:find",
        "ran:run",
        "began:begin",
        "begun:begin",
        "chose:choose",
        "chosen:choose",
        "built:build",
        "saw:see",
        "seen:see",
        "went:go",
        "gone:go",
        "did:do",
        "done:do",
        "told:tell",
        "said:say",
        "led:lead",
        "left:leave",
        "meant:mean",
        "met:meet",
        "paid:pay",
        "sent:send",
        "spent:spend",
        "spoke:speak",
        "spoken:speak",
        "stood:stand",
        "understood:understand",
        "won:win",
        "knew:know",
        "known:know",
        "grew:grow",
        "grown:grow",
        "drew:draw",
        "drawn:draw",
        "got:get",
        "gotten:get",
        "held:hold",
        "kept:keep",
        "felt:feel",
        "heard:hear",
        "lost:lose",
        "sold:sell",
        "shown:show",
        "showed:show",
        "fell:fall",
        "children:child",
        "people:person",
        "men:man",
        "women:woman",
        "data:data",
    ]
)


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The Snowball stem of one word ("covered", "covers", "covering" -> "cover")."""
    w = word.lower().strip(".'’-")
    return _snowball(_IRREGULAR.get(w, w))


def words(text: str) -> list[str]:
    """Word tokens of ``text`` in order (numbers with decimals kept whole: "4.75")."""
    return WORD.findall(text)


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w.lower().strip(".'’-") not in STOP]


def terms(text: str) -> set[str]:
    """Stems of the content words; a hyphenated word also gives its parts ("K-means")."""
    out: set[str] = set()
    for w in content_words(text):
        out.add(stem(w))
        if "-" in w:
            out.update(stem(p) for p in w.split("-") if p and p.lower() not in STOP)
        if _CAMEL.search(w):  # "MLxFundamentals" meets "MLx Fundamentals"
            out.update(stem(p) for p in _CAMEL_PART.findall(w) if len(p) > 1)
        glued = _GLUED.fullmatch(w)
        if glued:  # "Day95" meets "Day 95"
            out.update(stem(p) for p in glued.groups())
    return {t for t in out if len(t) > 1 or t.isdigit()}


def idf(docs: Sequence[set[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency of each term over ``docs``."""
    df: dict[str, int] = {}
    for d in docs:
        for t in d:
            df[t] = df.get(t, 0) + 1
    n = len(docs)
    return {t: math.log(1 + (n + 1) / (c + 0.5)) for t, c in df.items()}


def plain(text: str) -> str:
    """Text for quoting: one line, bullet marks and Markdown emphasis/code marks dropped."""
    text = _HEADING.sub("", _BULLET.sub("", text.strip()))
    return " ".join(_MARKUP.sub("", text).split())


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence, table row, heading or bullet of ``text``."""
    spans: list[tuple[int, int]] = []
    for lo, hi in _blocks(text):
        if "|" in text[lo:hi]:
            pieces = [(lo, hi)]
        else:
            pieces, start = [], lo
            for m in _SENT_END.finditer(text, lo, hi):
                if _ABBREV.search(text, max(lo, m.start() - 8), m.start()):
                    continue  # "Yuki M. Asano", "e.g. this": not a sentence end
                pieces.append((start, m.start()))
                start = m.end()
            pieces.append((start, hi))
        for a, b in pieces:
            b = a + len(text[a:b].rstrip())
            if len(WORD.findall(text[a:b])) >= MIN_WORDS:
                spans.append((a, b))
    return spans


def _blocks(text: str) -> Iterable[tuple[int, int]]:
    """Paragraphs, bullets, headings and table rows, hard-wrapped lines joined."""
    block: tuple[int, int] | None = None
    last = ""
    pos = 0
    for line in text.split("\n"):
        lo, hi = pos, pos + len(line)
        pos = hi + 1
        stripped = line.strip()
        if not stripped:
            if block:
                yield block
            block, last = None, ""
            continue
        lo += len(line) - len(line.lstrip())
        m = _BULLET.match(stripped) or _HEADING.match(stripped)
        if m:
            lo += m.end()
        starts = (
            bool(m) or "|" in stripped or "|" in last or _HEADING.match(last or "x") is not None
        )
        if block and not starts and _continues(last, stripped):
            block = (block[0], hi)
        else:
            if block:
                yield block
            block = (lo, hi)
        last = stripped
    if block:
        yield block


def _continues(prev: str, line: str) -> bool:
    """Whether ``line`` wraps on from ``prev`` (same paragraph) rather than starting anew."""
    if prev.endswith((".", "!", "?", ":", ";")):
        return line[:1].islower()
    if line[:1].islower():
        return True
    return len(prev) >= HEADING_CHARS and not prev.endswith(("…",))


def closeness(positions: Iterable[int], at: int) -> float:
    """1 for a word next to ``at``, falling off with the distance in words."""
    gaps = [abs(p - at) for p in positions]
    return 1.0 / (1.0 + min(gaps) / 4.0) if gaps else 0.0
