"""How kg reads words, in one place: name keys, words, singulars, stems and BM25 tokens.

Extraction, resolution, retrieval and evaluation all compare names and words; when each had its
own ``singular()`` and ``words()`` they disagreed ("classes" was "class" to one and "classe" to
another), so a header matched a keyword in one stage and not in the next. Everything here is
pure and cheap; the stemmer is Snowball's English stemmer (``snowballstemmer``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

TOKENIZER_VERSION = "v1"  # part of the BM25 index hash: bump when ``tokenize`` changes

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
_ALNUM = re.compile(r"[^\W_]+")  # letters and digits of any script; "_" and "'" split
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # the same, but "today's" and "i've" stay whole
_STEMMER = snowballstemmer.stemmer("english")

# The classic Lucene/Anserini English stopword list plus a few question words.
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "what", "which", "who", "whom", "whose", "when",
    "where", "why", "how", "does", "do", "did", "has", "have", "had", "been", "being", "its",
    "from", "were", "than", "so", "can", "could", "would", "should", "may", "might",
})  # fmt: skip


def normalize_name(name: str) -> str:
    """Key used for entity identity: case-, space-, article- and accent-insensitive."""
    text = unicodedata.normalize("NFKC", name).strip().lower()
    text = _SPACE.sub(" ", text)
    text = _LEADING_ARTICLE.sub("", text)
    text = _EDGE_PUNCT.sub("", text)
    return text


def squash_space(text: str) -> str:
    """Lower case, every run of whitespace one space: for containment checks."""
    return " ".join(text.lower().split())


def words(text: str, *, split_apostrophes: bool = False) -> list[str]:
    """Lower-case words of ``text`` (letters and digits of any script).

    "today's" stays one word unless ``split_apostrophes``, which gives "today", "s"."""
    pattern = _ALNUM if split_apostrophes else _WORD
    return pattern.findall(text.lower())


def singular(word: str) -> str:
    """A crude English singular, good enough for keys ("networks" -> "network", "classes" ->
    "class", "libraries" -> "library"); words of three letters or fewer, words with digits and
    words ending in -ss/-us/-is/-os ("loss", "corpus", "analysis", "chaos") stay as they are."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball's English stem of one lower-case word ("dying" -> "die")."""
    return _STEMMER.stemWord(word)


def tokenize(text: str) -> list[str]:
    """BM25 terms: words, lowercased, stopwords dropped, stemmed (``"Cells are dying"`` ->
    ``cell, die``). The same function runs on chunks and on queries, so a change here changes
    the index hash (``TOKENIZER_VERSION``)."""
    return [stem(w) for w in words(text, split_apostrophes=True) if w not in STOPWORDS]
