"""Tokenising for BM25: lowercase word tokens, English stopwords removed, Snowball stems.

The same function runs on chunks and on queries, so any change here changes the index hash.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

TOKENIZER_VERSION = "v1"

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")

# The classic Lucene/Anserini English stopword list plus a few question words.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "does",
        "do",
        "did",
        "has",
        "have",
        "had",
        "been",
        "being",
        "its",
        "from",
        "were",
        "than",
        "so",
        "can",
        "could",
        "would",
        "should",
        "may",
        "might",
    ]
)


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def tokenize(text: str) -> list[str]:
    """Words, lowercased, stopwords dropped, stemmed (``"Cells are dying"`` -> ``cell, die``)."""
    return [_stem(w) for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]
