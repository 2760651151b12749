"""Extractive map-reduce summaries: every document gets them, with or without the LLM.

Map: each chunk's most central sentences (cosine to the centroid of the chunk's sentence
vectors, MiniLM int8 ONNX as in retrieval). Reduce: the same over the map outputs' sentences,
a few map summaries at a time, level after level, until one summary covers the document. A
summary's text is its sentences, verbatim and in document order, joined by spaces, and
``Summary.spans`` holds each sentence's document offsets, so an answer built from a summary
cites the sentences themselves. The LLM's summaries replace these where the tier ran
(pipelines/extraction/summaries.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from kg.models import Chunk, Document, Summary, stable_id

MAP_SENTENCES = 2  # per chunk
REDUCE_GROUP = 4  # map (or lower reduce) summaries combined by one reduce
REDUCE_SENTENCES = 3  # an intermediate reduce keeps this many
FINAL_SENTENCES = 4  # the document-level summary
MIN_WORDS = 4  # shorter "sentences" (labels, list stubs) are never picked
REDUNDANCY = 0.3  # MMR: a candidate's centrality minus this share of its likeness to a pick
WRAP_MIN = 50  # a line this long may be hard-wrapped (the next one goes on); shorter ends it
FULL_WORDS = 12  # a sentence this long gets its whole centrality; shorter ones less
MAX_LEVELS = 12

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_TABLE = re.compile(r"^\s*\|")
_CELLS = re.compile(r"\|.*\|")  # a table row, with or without the leading pipe
_SEPARATOR = re.compile(r"^[\s|:\-+]*$")
_RULE = re.compile(r"^\s*([-*_]\s*){3,}$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ITEM = re.compile(r"^\s*(?:[-*+•◦▪‣●]|\d{1,3}[.)])\s*(?:\[[ xX]\]\s+)?(?=\S)")
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Sentence:
    start: int  # document offsets
    end: int
    text: str


Encoder = Callable[[list[str]], np.ndarray]


def split_sentences(text: str) -> list[Sentence]:
    """The prose sentences of a (markdown) document, with their offsets: headings, table rows,
    rules and code blocks are left out, list markers are not part of a sentence, and a
    sentence may run over hard-wrapped lines."""
    out: list[Sentence] = []
    seen: set[str] = set()
    for a, b, row in _blocks(text):
        found = [_trimmed(text, a, b)] if row else _sentences_in(text, a, b)
        for sent in found:
            key = " ".join(sent.text.lower().split())
            if _worth(sent.text) and key not in seen:  # a repeated line is given once
                seen.add(key)
                out.append(sent)
    return out


def _blocks(text: str) -> Iterable[tuple[int, int, bool]]:
    """Paragraphs and list items (offsets), each a run of lines that belong together, and
    table rows, each one unit (True); headings, rules, separators and code are skipped."""
    start: int | None = None
    end = 0
    fenced = False
    pos = 0
    for line in text.splitlines(keepends=True):
        lo, hi = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        body = text[lo:hi]
        if _FENCE.match(body):
            fenced = not fenced
        breaks = fenced or _FENCE.match(body) or not body.strip()
        breaks = breaks or _HEADING.match(body) or _RULE.match(body)
        item = _ITEM.match(body)
        row = not breaks and bool(_CELLS.search(body) or _TABLE.match(body))
        unwrapped = len(text[start or lo : end].rsplit("\n", 1)[-1].strip()) < WRAP_MIN
        if (breaks or item or row or unwrapped) and start is not None:
            yield start, end, False  # a short line before this one ended its paragraph
            start = None
        if row and not _SEPARATOR.match(body):
            yield lo, hi, True
        if breaks or row:
            continue
        if start is None:
            start = lo + (item.end() if item else len(body) - len(body.lstrip()))
        end = hi
    if start is not None:
        yield start, end, False


def _trimmed(text: str, lo: int, hi: int) -> Sentence:
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    return Sentence(lo, hi, text[lo:hi])


def _sentences_in(text: str, a: int, b: int) -> list[Sentence]:
    out: list[Sentence] = []
    for sent in _sentencizer()(text[a:b]).sents:
        found = _trimmed(text, a + sent.start_char, a + sent.end_char)
        if found.end > found.start:
            out.append(found)
    return out


@lru_cache(maxsize=1)
def _sentencizer() -> Any:
    """spaCy's rule-based sentencizer (its tokenizer keeps "Dr." or "e.g." whole)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def _worth(text: str) -> bool:
    return len(_WORD.findall(text)) >= MIN_WORDS


def central(vectors: np.ndarray, n: int, words: Sequence[int] | None = None) -> list[int]:
    """Indices of ``n`` rows, best first: closest (cosine) to the rows' centroid, a short row
    discounted (``words``: its word count), and each next pick less alike the ones before it
    (maximal marginal relevance), so a summary does not say one thing twice. Ties go to the
    earlier row: the choice is the same on every run."""
    if len(vectors) == 0:
        return []
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    scores = vectors @ (centroid / norm) if norm > 0 else np.zeros(len(vectors))
    if words is not None:
        scores = scores * np.sqrt(np.minimum(np.asarray(words, dtype=np.float32), FULL_WORDS)
                                  / FULL_WORDS)  # fmt: skip
    picked: list[int] = []
    likeness = np.full(len(vectors), -1.0, dtype=np.float32)
    for _ in range(min(n, len(vectors))):
        gain = scores - REDUNDANCY * np.maximum(likeness, 0.0) if picked else scores
        best = min((i for i in range(len(vectors)) if i not in picked),
                   key=lambda i: (-round(float(gain[i]), 6), i))  # fmt: skip
        picked.append(best)
        likeness = np.maximum(likeness, vectors @ vectors[best])
    return picked


def summarize_document(doc: Document, chunks: Sequence[Chunk], encode: Encoder) -> list[Summary]:
    """Map summaries (level 0, one per chunk with a sentence) and the reduce levels above
    them, the last one covering the whole document."""
    sentences = split_sentences(doc.text)
    if not sentences:
        return []
    vectors = np.asarray(encode([s.text for s in sentences]), dtype=np.float32)
    words = [len(_WORD.findall(s.text)) for s in sentences]
    owner = _owners(sentences, chunks)
    level0: list[tuple[Summary, list[int]]] = []
    for chunk in chunks:
        mine = [i for i, c in enumerate(owner) if c == chunk.id]
        if not mine:
            continue
        picked = [mine[j] for j in central(vectors[mine], MAP_SENTENCES, [words[i] for i in mine])]
        summary = _summary(
            doc, 0, sentences, picked, stable_id("sum", doc.id, "0", "extractive", chunk.id)
        )
        summary.source_chunk_ids = [chunk.id]
        level0.append((summary, picked))
    out = [s for s, _ in level0]
    current = level0
    level = 1
    while level <= MAX_LEVELS:
        final = len(current) <= REDUCE_GROUP
        groups = [current] if final else _groups(current, REDUCE_GROUP)
        reduced: list[tuple[Summary, list[int]]] = []
        for group in groups:
            pool = sorted({i for _, idx in group for i in idx})
            keep = FINAL_SENTENCES if final else REDUCE_SENTENCES
            picked = [pool[j] for j in central(vectors[pool], keep, [words[i] for i in pool])]
            source_ids = [s.id for s, _ in group]
            summary = _summary(
                doc, level, sentences, picked,
                stable_id("sum", doc.id, str(level), "extractive", *source_ids),
            )  # fmt: skip
            summary.source_summary_ids = source_ids
            summary.source_chunk_ids = list(
                dict.fromkeys(c for s, _ in group for c in s.source_chunk_ids)
            )
            reduced.append((summary, picked))
        out += [s for s, _ in reduced]
        if final:
            break
        current, level = reduced, level + 1
    return out


def _owners(sentences: Sequence[Sentence], chunks: Sequence[Chunk]) -> list[str | None]:
    """The chunk each sentence belongs to: the first that holds its middle (chunks overlap,
    and a sentence cut by a chunk's edge belongs to the chunk that holds most of it)."""
    ordered = sorted(chunks, key=lambda c: (c.start, c.index))
    out: list[str | None] = []
    for s in sentences:
        mid = (s.start + s.end) // 2
        out.append(next((c.id for c in ordered if c.start <= mid < c.end), None))
    return out


def _groups(items: list[Any], size: int) -> list[list[Any]]:
    """Consecutive groups of ``size``; a short last group joins the one before it."""
    groups = [items[i : i + size] for i in range(0, len(items), size)]
    if len(groups) > 1 and len(groups[-1]) < size // 2 + 1:
        last = groups.pop()
        groups[-1] += last
    return groups


def _summary(
    doc: Document, level: int, sentences: Sequence[Sentence], picked: Iterable[int], id_: str
) -> Summary:
    chosen = sorted(set(picked), key=lambda i: sentences[i].start)
    return Summary(
        id=id_,
        doc_id=doc.id,
        level=level,
        text=" ".join(sentences[i].text for i in chosen),
        spans=[(sentences[i].start, sentences[i].end) for i in chosen],
        method="extractive",
    )


def summarize_all(
    documents: Sequence[Document],
    chunks: dict[str, list[Chunk]],
    encode: Encoder | None = None,
) -> list[Summary]:
    """Extractive summaries of every document (``encode``: kg's MiniLM by default, its
    vectors cached by text so an unchanged corpus is not embedded again)."""
    encode = encode or default_encoder()
    out: list[Summary] = []
    for doc in documents:
        out += summarize_document(doc, chunks.get(doc.id, []), encode)
    return out


def default_encoder() -> Encoder:
    """MiniLM int8 (kg.retrieval.embed) through the shared text-hash embedding cache."""
    from kg.retrieval.embed import shared_embedder
    from kg.retrieval.embed_cache import EmbeddingCache, default_embedding_dir

    model = shared_embedder()
    cache = EmbeddingCache(default_embedding_dir(), model.model_id, model.dim)

    def encode(texts: list[str]) -> np.ndarray:
        vectors, _ = cache.get_or_encode(texts, lambda todo: model.embed(todo, batch_size=16))
        return vectors

    return encode
