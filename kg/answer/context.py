"""The answer's context: the sentences (and table rows) that may state the answer, with spans.

Graph facts come first, each as the sentence that states it; then the retrieved chunks' best
sentences by the idf weight of the question's terms they state (a sentence also gets half the
credit of the terms its neighbours add: "The course is taught by X" follows the sentence that
names the course); summaries for an overview question. Every passage is a whole sentence in
document offsets, so a citation built from it points at the sentence that states the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from kg.answer.question import Question
from kg.answer.words import WORD, content_words, idf, plain, sentences, stem, terms
from kg.models import GraphFact, SearchHit

MAX_PASSAGES = 8  # sentences handed to candidate extraction
MAX_FACT_PASSAGES = 3
NEIGHBOUR_SHARE = 0.5
RELATIVE_MIN = 0.2  # a sentence under this share of the best one's score is noise
SUMMARY_CHARS = 500
HEADING_WORDS = 14
LABEL_JOIN_CHARS = 300
DENSE_POOL = 24  # the best lexical sentences re-scored by embedding similarity
DENSE_SHARE = 0.7
DEFINITION_BOOST = 1.5
_WHAT_IS = re.compile(r"\bwhat (?:is|are|was|were)\s+((?:[\w-]+\s*){1,6}?)"
                      r"(?=\s*(?:,|\?|$|\b(?:at|according|in|as|from|for|of|used|called|"
                      r"made|mean)\b))", re.IGNORECASE)  # fmt: skip
HEADING_SHARE = 0.5
LONG_WORDS = 40  # a sentence longer than this states many things: its weight is spread


@dataclass
class Passage:
    """One numbered source: a sentence, table row or summary, and where it is."""

    chunk_id: str
    doc_id: str
    path: str
    start: int  # document offsets
    end: int
    text: str  # as quoted (one line, markup dropped)
    chunk_text: str = ""
    kind: str = "sentence"  # "fact" | "sentence" | "summary"
    fact: GraphFact | None = None
    score: float = 0.0  # the question's term weight it states (with its neighbours' share)
    retrieval: float = 0.0  # its chunk's retrieval score, 0..1 of the best hit
    hop: int = 1  # 2: reached from a bridge entity
    said: set[str] = field(default_factory=set)  # its terms
    chunk_start: int = 0  # document offset of chunk_text

    @property
    def raw(self) -> str:
        """The passage as it stands in its chunk (offsets match ``start``)."""
        if not self.chunk_text:
            return self.text
        return self.chunk_text[self.start - self.chunk_start : self.end - self.chunk_start]


def linked_facts(
    question: Question, relations: Sequence[Any], entities: Mapping[str, Any], limit: int = 20
) -> list[GraphFact]:
    """Relations touching the question's linked entities, with their evidence; those whose
    names and evidence share most with the question first."""
    keys = {e.name.lower() for e in question.entities}
    ids = {e.id for e in question.entities}
    if not keys:
        return []
    q = question.term_set
    named = set().union(*(terms(e.name) for e in question.entities))
    picked: list[tuple[tuple[float, ...], GraphFact]] = []
    for r in relations:
        head, tail = entities.get(r.head_id), entities.get(r.tail_id)
        if head is None or tail is None:
            continue
        hits = len({head.name.lower(), tail.name.lower()} & keys) + len(
            {r.head_id, r.tail_id} & ids
        )
        if not hits:
            continue
        said = " ".join(ev.text for ev in r.evidence)
        about = terms(f"{head.name} {tail.name} {r.type.replace('_', ' ')} {said}")
        extra = len((q - named) & about)
        picked.append(((-extra, -hits, -r.confidence), GraphFact.of(r, head, tail, evidence=True)))
    picked.sort(key=lambda p: (p[0], p[1].head, p[1].tail))
    return [fact for _, fact in picked[:limit]]


def build_context(
    question: Question,
    hits: Sequence[SearchHit],
    facts: Sequence[GraphFact] = (),
    chunks: Mapping[str, Any] | None = None,
    summaries: Sequence[Any] = (),
    paths: Mapping[str, str] | None = None,
    limit: int = MAX_PASSAGES,
    hop: int = 1,
    similarity: Callable[[str, list[str]], Sequence[float]] | None = None,
) -> list[Passage]:
    """Fact sentences, then the hits' best sentences, then (overview) summaries; each span once."""
    chunks = dict(chunks or {})
    for hit in hits:
        chunks.setdefault(hit.chunk_id, _HitChunk(hit))
    paths = {**{h.doc_id: h.path for h in hits}, **dict(paths or {})}
    top = max((h.score for h in hits), default=0.0) or 1.0
    q = question.term_set
    pool: list[Passage] = []
    for rank, hit in enumerate(hits):
        units = [_passage(chunks[hit.chunk_id], a, b, paths) for a, b in _labelled(hit.text)]
        for p in units:
            p.retrieval = max(hit.score, 0.0) / top
            p.hop = hop
        weights_of = [p.said & q for p in units]
        for i, p in enumerate(units):
            near = set().union(*(weights_of[j] for j in (i - 1, i + 1) if 0 <= j < len(units)))
            p.score = (len(weights_of[i]), near - weights_of[i], rank)  # type: ignore[assignment]
        pool += units
    weights = idf([p.said for p in pool] or [set()])
    pairs = _pairs(question.words)
    defines = _definition(question)
    for p in pool:
        _own, near, rank = p.score  # type: ignore[misc]
        p.score = (
            _weight(p, q, pairs, weights)
            + NEIGHBOUR_SHARE * sum(weights.get(t, 1.0) for t in near)
            - 0.01 * rank
        )
        if defines is not None and defines.search(p.text):
            p.score *= DEFINITION_BOOST
    if similarity is not None and pool:
        _blend(question, pool, similarity)
    out: list[Passage] = []
    if question.overview:
        out += summary_passages(hits, summaries, chunks, paths)
    for fact in facts:
        if sum(p.kind == "fact" for p in out) >= MAX_FACT_PASSAGES:
            break
        p = fact_passage(fact, chunks, paths) if fact.evidence else None
        if p is not None and not _covered(p, out):
            p.score = _weight(p, q, pairs, weights)
            p.hop = hop
            out.append(p)
    best = max((p.score for p in pool), default=0.0)
    ranked = sorted((p for p in pool if p.score > 0 and p.score >= RELATIVE_MIN * best),
                    key=lambda p: -p.score)  # fmt: skip
    for p in ranked:
        if len(out) >= limit:
            break
        if not _covered(p, out):
            out.append(p)
    if not out and pool:
        out.append(pool[0])
    return out


def fact_passage(
    fact: GraphFact, chunks: Mapping[str, Any], paths: Mapping[str, str]
) -> Passage | None:
    """The sentence or row of the fact's evidence that names both its ends (else the first
    sentence inside the evidence span)."""
    fallback: Passage | None = None
    for ev in fact.evidence:
        chunk = chunks.get(ev.chunk_id)
        if chunk is None:
            continue
        lo, hi = ev.start - chunk.start, ev.end - chunk.start
        spans = sentences(chunk.text)
        inside = [s for s in spans if s[0] < hi and s[1] > lo] or spans
        for a, b in sorted(spans, key=lambda s: s not in inside):
            said = chunk.text[a:b].lower()
            if fact.head.lower() in said and fact.tail.lower() in said:
                return _passage(chunk, a, b, paths, kind="fact", fact=fact)
        if fallback is None and inside:
            fallback = _passage(chunk, *inside[0], paths, kind="fact", fact=fact)
    return fallback


def summary_passages(
    hits: Sequence[SearchHit],
    summaries: Sequence[Any],
    chunks: Mapping[str, Any],
    paths: Mapping[str, str],
    docs: int = 2,
) -> list[Passage]:
    """Per document of the top hits: its highest-level summary, else its first map summaries."""
    out: list[Passage] = []
    for doc_id in list(dict.fromkeys(h.doc_id for h in hits))[:docs]:
        mine = [s for s in summaries if s.doc_id == doc_id]
        if not mine:
            continue
        level = max(s.level for s in mine)
        chosen = sorted((s for s in mine if s.level == level), key=lambda s: s.id)[:2]
        text = " ".join(s.text for s in chosen)
        src = chunks.get(next(iter(chosen[0].source_chunk_ids), ""))
        spans = [sp for s in chosen for sp in getattr(s, "spans", []) or []]
        start, end = _span_of(spans, src)
        out.append(Passage(chunk_id=src.id if src is not None else "", doc_id=doc_id,
                           path=paths.get(doc_id, ""), start=start, end=end,
                           text=plain(text)[:SUMMARY_CHARS], chunk_text=text, kind="summary",
                           said=terms(text)))  # fmt: skip
    return out


# ---------------------------------------------------------------- internals


def _blend(question: Question, pool: list[Passage],
           similarity: Callable[[str, list[str]], Sequence[float]]) -> None:  # fmt: skip
    """Mix each of the best lexical sentences' score with its embedding similarity to the
    question (both relative to the best): words the notes phrase differently still meet."""
    best_lex = max((p.score for p in pool), default=0.0)
    if best_lex <= 0:
        return
    top = sorted(pool, key=lambda p: -p.score)[:DENSE_POOL]
    sims = [max(0.0, float(x)) for x in similarity(question.text, [p.text for p in top])]
    best_sim = max(sims, default=0.0) or 1.0
    for p, sim in zip(top, sims, strict=True):
        p.score = best_lex * ((1 - DENSE_SHARE) * p.score / best_lex + DENSE_SHARE * sim / best_sim)
    for p in pool:
        if p not in top:
            p.score *= 1 - DENSE_SHARE


def _labelled(text: str) -> list[tuple[int, int]]:
    """Sentences, a label line ending in ":" joined to the unit it introduces
    ("Singular Value Decomposition (SVD): / it's an exact decomposition")."""
    spans = sentences(text)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and text[out[-1][0] : out[-1][1]].rstrip().endswith(":") and "|" not in text[a:b]:
            lo = out[-1][0]
            if b - lo <= LABEL_JOIN_CHARS:
                out[-1] = (lo, b)
                continue
        out.append((a, b))
    return out


def _definition(question: Question) -> re.Pattern[str] | None:
    """For "what is X" questions: a pattern for sentences that define X ("X is …", "X = …")."""
    m = _WHAT_IS.search(question.text)
    if not m:
        return None
    subject = [w for w in m.group(1).split() if w.lower() not in ("a", "an", "the")][:4]
    if not subject:
        return None
    name = r"[\s-]+".join(re.escape(w) for w in subject)
    return re.compile(rf"^\W*(?:a|an|the)?\s*{name}\b.{{0,60}}?(?:\bis\b|\bare\b|=|\bmeans\b|"
                      rf"\brefer)", re.IGNORECASE)  # fmt: skip


def _pairs(words: Sequence[str]) -> set[tuple[str, str]]:
    stems = [stem(w) for w in words]
    return set(pairwise(stems))


def _weight(p: Passage, q: set[str], pairs: set[tuple[str, str]], weights: Mapping[str, float]
            ) -> float:  # fmt: skip
    """The idf weight of the question terms ``p`` states, plus half again for each pair of
    question words it states side by side ("cost function"); a title or heading (few words,
    no sentence end) counts half: it names a topic, it seldom states an answer."""
    total = sum(weights.get(t, 1.0) for t in p.said & q)
    if pairs:
        stems = [stem(w) for w in content_words(p.raw)]
        for a, b in pairwise(stems):
            if (a, b) in pairs:
                total += 0.5 * (weights.get(a, 1.0) + weights.get(b, 1.0)) / 2
    n = len(WORD.findall(p.raw))
    if (
        n < HEADING_WORDS
        and not p.raw.rstrip().endswith((".", "!", "?"))
        and not any(mark in p.raw for mark in "|=")
    ):
        total *= HEADING_SHARE
    elif n > LONG_WORDS:
        total /= 1 + (n - LONG_WORDS) / (2 * LONG_WORDS)
    return total


def _span_of(spans: Sequence[Any], src: Any) -> tuple[int, int]:
    if spans:
        starts = [getattr(s, "start", s[0] if isinstance(s, list | tuple) else 0) for s in spans]
        ends = [getattr(s, "end", s[1] if isinstance(s, list | tuple) else 0) for s in spans]
        return min(starts), max(ends)
    return (src.start, src.end) if src is not None else (0, 0)


class _HitChunk:
    """A SearchHit seen as a chunk (id, doc_id, start, end, text)."""

    def __init__(self, hit: SearchHit) -> None:
        self.id, self.doc_id = hit.chunk_id, hit.doc_id
        self.start, self.end, self.text = hit.start, hit.end, hit.text


def _passage(chunk: Any, a: int, b: int, paths: Mapping[str, str], kind: str = "sentence",
             fact: GraphFact | None = None) -> Passage:  # fmt: skip
    raw = chunk.text[a:b]
    return Passage(chunk_id=chunk.id, doc_id=chunk.doc_id, path=paths.get(chunk.doc_id, ""),
                   start=chunk.start + a, end=chunk.start + b, text=plain(raw),
                   chunk_text=chunk.text, kind=kind, fact=fact, said=terms(raw),
                   chunk_start=chunk.start)  # fmt: skip


def _covered(p: Passage, chosen: Sequence[Passage]) -> bool:
    return any(c.doc_id == p.doc_id and c.start < p.end and p.start < c.end
               and c.kind != "summary" for c in chosen)  # fmt: skip
