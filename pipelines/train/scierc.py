"""SciERC documents as sentences of words with entity spans and relations (word indices).

SciERC's text is its tokens joined by single spaces, so words and their character offsets come
from splitting on spaces; sentences end at a "." / "?" / "!" token. PTB bracket tokens are
shown to the encoder as the brackets they stand for, as they appear in real notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kg.trained.joint import ENTITY_LABELS, PTB, RELATION_LABELS, SYMMETRIC

__all__ = ["ENTITY_LABELS", "RELATION_LABELS", "SYMMETRIC", "Sentence", "load_sentences"]
_ENDS = frozenset({".", "?", "!"})


@dataclass
class Sentence:
    """Words with document character offsets; spans are inclusive word ranges."""

    doc_id: str
    words: list[str]
    starts: list[int]
    ends: list[int]
    entities: list[tuple[int, int, str]] = field(default_factory=list)
    relations: list[tuple[int, int, str]] = field(default_factory=list)  # entity indices

    @property
    def encoder_words(self) -> list[str]:
        return [PTB.get(w, w) for w in self.words]


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def split_words(text: str) -> tuple[list[str], list[int], list[int]]:
    words, starts, ends, pos = [], [], [], 0
    for w in text.split(" "):
        if w:
            words.append(w)
            starts.append(pos)
            ends.append(pos + len(w))
        pos += len(w) + 1
    return words, starts, ends


def document_sentences(row: dict) -> list[Sentence]:
    words, starts, ends = split_words(row["text"])
    bounds, begin = [], 0
    for i, w in enumerate(words):
        if w in _ENDS:
            bounds.append((begin, i + 1))
            begin = i + 1
    if begin < len(words):
        bounds.append((begin, len(words)))
    start_word = {s: i for i, s in enumerate(starts)}
    end_word = {e: i for i, e in enumerate(ends)}
    sentences = []
    for b, e in bounds:
        sentences.append(Sentence(row["id"], words[b:e], starts[b:e], ends[b:e]))
    sent_of = [0] * len(words)
    for si, (b, e) in enumerate(bounds):
        for i in range(b, e):
            sent_of[i] = si
    index: dict[tuple[int, int], tuple[int, int]] = {}  # char span -> (sentence, entity index)
    for ent in row.get("entities", []):
        ws, we = start_word.get(ent["start"]), end_word.get(ent["end"])
        if ws is None or we is None or sent_of[ws] != sent_of[we]:
            continue
        si = sent_of[ws]
        off = bounds[si][0]
        sent = sentences[si]
        if (ent["start"], ent["end"]) in index:
            continue
        index[(ent["start"], ent["end"])] = (si, len(sent.entities))
        sent.entities.append((ws - off, we - off, ent["type"]))
    for rel in row.get("relations", []):
        h = index.get((rel["head_start"], rel["head_end"]))
        t = index.get((rel["tail_start"], rel["tail_end"]))
        if h is None or t is None or h[0] != t[0]:
            continue
        sentences[h[0]].relations.append((h[1], t[1], rel["relation"]))
    return sentences


def load_sentences(path: Path, limit_docs: int | None = None) -> list[Sentence]:
    rows = read_jsonl(path)[:limit_docs]
    return [s for row in rows for s in document_sentences(row)]
