"""What the answer prompt holds, in order: graph facts with the sentence stating each, the
question's best sentences from the retrieved chunks, and document summaries for overview
questions, all within a character budget measured for a 1.5B model on 2 CPU cores.

The offline model reads ~90 tokens/s there (the system prompt is a prefix the server caches),
so whole chunks (6 x 1,200 chars, ~1,900 tokens) cost ~20 s before the first token; the few
sentences that match the question and the fact sentences carry the answer in ~1,000 chars
(~250 tokens, ~3 s), which with the question and a 100-token cap keeps `kg ask` near 5-8 s.
Every passage keeps its span in document offsets, so the
citation built from it points at that sentence or table row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kg.answer_text import clip, contains_name, idf, terms, units, weight
from kg.models import Evidence, GraphFact, SearchHit
from kg.summaries import is_overview as summaries_overview
from kg.summaries import overview_passages

CONTEXT_CHARS = 1000  # all passages together (~250 tokens, ~3 s to read)
PASSAGE_CHARS = 280
MAX_FACT_PASSAGES = 3
MAX_PASSAGES = 5
SUMMARY_CHARS = 500
SHORT_UNIT = 30  # a unit this short (a heading, "Firstly, about X") takes the next one along
WINDOW_CHARS = 150  # a sentence shorter than this is given with the one before it
RELATIVE_MIN = 0.25  # a sentence scoring under this share of the best one is noise

_OVERVIEW = re.compile(
    r"\b(summar\w*|overview|gist|tl;?dr|main (topics?|points?|ideas?|themes?))\b"
    r"|\bwhat(?:'s| is| are| was)\b.{0,80}\babout\s*\??\s*$",
    re.IGNORECASE,
)


@dataclass
class Passage:
    """One numbered source of the prompt: a sentence/row (or a summary) and where it is."""

    chunk_id: str
    doc_id: str
    path: str
    start: int  # document offsets
    end: int
    text: str
    chunk_text: str = ""
    kind: str = "sentence"  # "fact" | "sentence" | "summary"
    fact: GraphFact | None = None
    score: float = 0.0
    core: str = ""  # the sentence the passage was chosen for (without its window)
    chunk_start: int = 0  # document offset of chunk_text


def is_overview(question: str) -> bool:
    """Questions such as "what is this document about" or "summarize X"."""
    return bool(_OVERVIEW.search(question)) or summaries_overview(question)


def linked_facts(
    question: str,
    linked: Sequence[Any],
    relations: Sequence[Any],
    entities: Mapping[str, Any],
    limit: int = 20,
) -> list[GraphFact]:
    """Relations touching the question's linked entities (or others of the same name), with
    their evidence; those whose names and evidence share most with the question first."""
    keys = {e.name.lower() for e in linked}
    if not keys:
        return []
    q = terms(question)
    named = set().union(*(terms(e.name) for e in linked))
    picked: list[tuple[tuple[float, ...], GraphFact]] = []
    for r in relations:
        head, tail = entities.get(r.head_id), entities.get(r.tail_id)
        if head is None or tail is None:
            continue
        ends = {head.name.lower(), tail.name.lower()}
        hits = len(ends & keys)
        if not hits:
            continue
        said = " ".join(ev.text for ev in r.evidence)
        about = terms(f"{head.name} {tail.name} {r.type.replace('_', ' ')} {said}")
        extra = len((q - named) & about)
        fact = GraphFact.of(r, head, tail, evidence=True)
        picked.append(((-hits, -extra, -r.confidence), fact))
    picked.sort(key=lambda p: (p[0], p[1].head, p[1].tail))
    return [fact for _, fact in picked[:limit]]


def fact_passage(
    fact: GraphFact, chunks: Mapping[str, Any], paths: Mapping[str, str]
) -> Passage | None:
    """The sentence or table row that states ``fact``: the unit of its evidence chunk that
    names both ends (preferring one inside the evidence span), else the evidence's unit."""
    fallback: Passage | None = None
    for ev in fact.evidence:
        chunk = chunks.get(ev.chunk_id)
        if chunk is None:
            continue
        spans = units(chunk.text)
        lo, hi = ev.start - chunk.start, ev.end - chunk.start
        inside = [s for s in spans if s[0] < hi and s[1] > lo] or spans
        for a, b in sorted(spans, key=lambda s: s not in inside):
            text = chunk.text[a:b]
            if contains_name(text, fact.head) and contains_name(text, fact.tail):
                return _passage(chunk, a, b, paths, kind="fact", fact=fact)
        if fallback is None and inside:
            a, b = inside[0]
            fallback = _passage(chunk, a, b, paths, kind="fact", fact=fact)
    return fallback if fallback is not None else _evidence_passage(fact, paths)


def build_context(
    question: str,
    hits: Sequence[SearchHit],
    facts: Sequence[GraphFact],
    chunks: Mapping[str, Any] | None = None,
    summaries: Sequence[Any] = (),
    paths: Mapping[str, str] | None = None,
    budget: int = CONTEXT_CHARS,
) -> list[Passage]:
    """Fact sentences first, then the best sentences of the hits, then (for an overview
    question) summaries; overlapping spans are given once, the whole within ``budget``."""
    chunks = dict(chunks or {})
    for hit in hits:  # the hits' own text is enough to narrow evidence inside them
        chunks.setdefault(hit.chunk_id, _HitChunk(hit))
    paths = dict(paths or {})
    for hit in hits:
        paths.setdefault(hit.doc_id, hit.path)
    q = terms(question)
    candidates = [p for hit in hits for p in _sentences(hit, paths)]
    weights = idf([terms(p.core or p.text) for p in candidates] or [set()])
    out: list[Passage] = []
    overview = is_overview(question)
    if overview:  # summary sentences with their spans (kg.summaries), else the old passages
        found = overview_passages(question, summaries, chunks, hits=hits, paths=paths)
        out += [Passage(**p.as_fields()) for p in found]
        out += [] if found else summary_passages(hits, summaries, chunks, paths)
    for fact in facts:
        if len([p for p in out if p.kind == "fact"]) >= MAX_FACT_PASSAGES:
            break
        passage = fact_passage(fact, chunks, paths) if fact.evidence else None
        if passage is not None and not _covered(passage, out):
            passage.score = weight(q, terms(passage.text), weights)
            out.append(passage)
    for rank, p in enumerate(candidates):
        p.score = weight(q, terms(p.core or p.text), weights) - 0.01 * rank
    top = max((p.score for p in candidates), default=0.0)
    best = sorted(
        (p for p in candidates if p.score > 0 and p.score >= RELATIVE_MIN * top),
        key=lambda p: -p.score,
    )
    for p in best:
        if len(out) >= MAX_PASSAGES:
            break
        if not _covered(p, out):
            out.append(p)
        else:
            _merge(p, out)
    if not out and candidates:  # nothing matches a word of the question: the top chunk's start
        out.append(candidates[0])
    return _within(out, budget)


def summary_passages(
    hits: Sequence[SearchHit],
    summaries: Sequence[Any],
    chunks: Mapping[str, Any],
    paths: Mapping[str, str],
    docs: int = 2,
) -> list[Passage]:
    """Per document of the top hits: its reduce summary (level >= 1), else its first map
    summaries (level 0), else the document's opening lines."""
    doc_ids = list(dict.fromkeys(h.doc_id for h in hits))[:docs]
    out: list[Passage] = []
    for doc_id in doc_ids:
        mine = [s for s in summaries if s.doc_id == doc_id]
        top = [s for s in mine if s.level >= 1]
        if top:
            chosen = [max(top, key=lambda s: s.level)]
        else:
            chosen = sorted((s for s in mine if s.level == 0), key=lambda s: s.id)[:2]
        first = min(
            (c for c in chunks.values() if c.doc_id == doc_id), key=lambda c: c.start, default=None
        )
        if chosen:
            text = " ".join(s.text for s in chosen)
            src = chunks.get(next(iter(chosen[0].source_chunk_ids), ""), first)
            start, end = (src.start, src.end) if src is not None else (0, 0)
            out.append(
                Passage(
                    chunk_id=src.id if src is not None else "",
                    doc_id=doc_id,
                    path=paths.get(doc_id, ""),
                    start=start,
                    end=end,
                    text=clip(text, SUMMARY_CHARS),
                    chunk_text=text,
                    kind="summary",
                )
            )
        elif first is not None:
            end = min(len(first.text), SUMMARY_CHARS)
            out.append(_passage(first, 0, end, paths, kind="summary"))
    return out


# ---------------------------------------------------------------- internals


class _HitChunk:
    """A SearchHit seen as a chunk (id, doc_id, start, end, text)."""

    def __init__(self, hit: SearchHit) -> None:
        self.id, self.doc_id = hit.chunk_id, hit.doc_id
        self.start, self.end, self.text = hit.start, hit.end, hit.text


def _passage(
    chunk: Any, a: int, b: int, paths: Mapping[str, str], kind: str, fact: GraphFact | None = None
) -> Passage:
    return Passage(
        chunk_id=chunk.id,
        doc_id=chunk.doc_id,
        path=paths.get(chunk.doc_id, ""),
        start=chunk.start + a,
        end=chunk.start + b,
        text=chunk.text[a:b],
        chunk_text=chunk.text,
        kind=kind,
        fact=fact,
        chunk_start=chunk.start,
    )


def _evidence_passage(fact: GraphFact, paths: Mapping[str, str]) -> Passage | None:
    ev: Evidence | None = next((e for e in fact.evidence if e.text), None)
    if ev is None:
        return None
    return Passage(
        chunk_id=ev.chunk_id,
        doc_id=ev.doc_id,
        path=paths.get(ev.doc_id, ""),
        start=ev.start,
        end=ev.end,
        text=ev.text,
        chunk_text=ev.text,
        kind="fact",
        fact=fact,
    )


def _sentences(hit: SearchHit, paths: Mapping[str, str]) -> list[Passage]:
    """The hit's units, each widened by the sentence before it and then the one after it
    while under ``WINDOW_CHARS`` (what names the subject is often the sentence before);
    table rows stand alone."""
    chunk = _HitChunk(hit)
    spans = units(hit.text)
    out = []
    for i, (a, b) in enumerate(spans):
        if "|" not in hit.text[a:b]:  # widen by the neighbours
            if i > 0 and b - a < WINDOW_CHARS and "|" not in hit.text[spans[i - 1][0] : a]:
                a = spans[i - 1][0]
            if i + 1 < len(spans) and b - a < SHORT_UNIT:
                b = spans[i + 1][1]
        passage = _passage(chunk, a, b, paths, kind="sentence")
        passage.core = hit.text[spans[i][0] : spans[i][1]]
        out.append(passage)
    return out


def _covered(p: Passage, chosen: Sequence[Passage]) -> bool:
    """Whether ``p`` overlaps a chosen passage (summaries aside): each span is given once."""
    return any(
        c.doc_id == p.doc_id and c.start < p.end and p.start < c.end and c.kind != "summary"
        for c in chosen
    )


def _merge(p: Passage, chosen: list[Passage]) -> None:
    """Widen the chosen sentence passage that ``p`` overlaps to cover both, if still short."""
    for c in chosen:
        if c.kind != "sentence" or c.chunk_id != p.chunk_id or not c.chunk_text:
            continue
        if c.start < p.end and p.start < c.end:
            lo, hi = min(c.start, p.start), max(c.end, p.end)
            if hi - lo <= PASSAGE_CHARS:
                c.text = c.chunk_text[lo - c.chunk_start : hi - c.chunk_start]
                c.start, c.end = lo, hi
            return


def _within(passages: list[Passage], budget: int) -> list[Passage]:
    out, used = [], 0
    for p in passages:
        size = min(len(p.text), PASSAGE_CHARS)
        if out and used + size > budget:
            continue
        out.append(p)
        used += size
    return out
