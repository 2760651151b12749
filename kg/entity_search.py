"""Entities by name for the entity explorer: whole-word fuzzy matching.

rapidfuzz's WRatio scores partial matches, so any short name found inside the query matched it
("non" and "sum" for "zzzqqq-no-such"). Here every query word is compared with whole name words:
short words must be equal, longer ones may differ by a typo or be a prefix being typed.
"""

from __future__ import annotations

from collections.abc import Iterable

from kg.models import Entity
from kg.text import STOPWORDS, words

MIN_WORD_SIMILARITY = 80.0  # rapidfuzz ratio between two whole words, 0..100
MIN_FUZZY_LENGTH = 4  # shorter words ("no", "svc") only match exactly
MIN_SCORE = 0.5  # share of the query's words an entity must match


def _name_words(text: str) -> list[str]:
    return words(text, split_apostrophes=True)


def _word_similarity(query_word: str, name_word: str) -> float:
    from rapidfuzz import fuzz

    if query_word == name_word:
        return 100.0
    if min(len(query_word), len(name_word)) < MIN_FUZZY_LENGTH:
        return 0.0
    if name_word.startswith(query_word):  # a name being typed: "goodf" -> "goodfellow"
        return 90.0
    return float(fuzz.ratio(query_word, name_word))


def match_score(query_words: list[str], name_words: list[str]) -> float:
    """0..1: how much of the query the name covers (mostly) and of the name the query covers."""
    if not query_words or not name_words:
        return 0.0
    covered = 0.0
    used: set[int] = set()
    for q in query_words:
        best, where = 0.0, -1
        for i, n in enumerate(name_words):
            sim = _word_similarity(q, n)
            if sim > best:
                best, where = sim, i
        if best >= MIN_WORD_SIMILARITY:
            covered += best / 100.0
            used.add(where)
    query_share = covered / len(query_words)
    if query_share < MIN_SCORE:
        return 0.0
    return 0.75 * query_share + 0.25 * len(used) / len(name_words)


def search_names(query: str, entities: Iterable[Entity], limit: int = 10) -> list[Entity]:
    """The entities whose name or alias matches ``query`` by whole words, best first;
    an empty list when nothing does (the caller says so)."""
    query_words = [w for w in _name_words(query) if w not in STOPWORDS] or _name_words(query)
    if not query_words:
        return []
    scored: list[tuple[float, int, str, Entity]] = []
    for entity in entities:
        names = [entity.name, *entity.aliases]
        score = max(match_score(query_words, _name_words(n)) for n in names)
        if score > 0.0:
            scored.append((-score, -len(entity.mentions), entity.name.lower(), entity))
    scored.sort(key=lambda row: row[:3])
    return [row[3] for row in scored[:limit]]
