"""Overview questions answered from the document summaries, cited to their sentences.

"What is this note about?" gets the document-level summary of the best document; "what did I
do in week 3?" gets the map summaries of the chunks retrieval found for it. Every passage is
one sentence of an extractive summary, with that sentence's span in the document, so the
answer cites the sentence the summary came from; an LLM summary (its own words) is one passage
cited to the chunk span it was written from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_PASSAGES = 4  # summary sentences given to one answer
MAX_DOCS = 2
# passage score of the first summary sentence: above any retrieved sentence's (idf-weighted
# overlap with the question), so an overview question is answered from its summaries
OVERVIEW_SCORE = 1000.0

_OVERVIEW = re.compile(
    r"\b(summar\w*|overview|gist|tl;?dr|main (topics?|points?|ideas?|themes?))\b"
    r"|\bwhat(?:'s| is| are| was)\b.{0,80}\babout\s*\??\s*$"
    # what happened in a stretch of time: "what did I do in week 3?", "… study last month?"
    r"|\bwhat (?:did|have) (?:i|we) (?:do|done|learn\w*|stud\w*|cover\w*|work\w* on)"
    r"\s+(?:in|on|during|over|last|this|that|the|for)\b.{0,30}"
    r"\b(?:week|day|month|year|weekend|session|semester|module|lesson|chapter|part|break)s?\b",
    re.IGNORECASE,
)
_GENERAL = re.compile(
    r"\b(summar\w*|overview|gist|tl;?dr|main (topics?|points?|ideas?|themes?))\b"
    r"|\b(this|the|my) (note|notes|document|file|log|page|text)s?\b.{0,20}\babout\b",
    re.IGNORECASE,
)


@dataclass
class OverviewPassage:
    """A summary sentence and where it is (the answer path's Passage fields, kind "summary")."""

    chunk_id: str
    doc_id: str
    path: str
    start: int  # document offsets of the sentence (of the chunk, for an LLM summary)
    end: int
    text: str
    chunk_text: str = ""
    kind: str = "summary"
    fact: Any = None
    score: float = 0.0
    core: str = ""
    chunk_start: int = 0
    summary_id: str = field(default="", compare=False)

    def as_fields(self, clean: Callable[[str], str] | None = None) -> dict[str, Any]:
        """Keyword arguments for the answer path's Passage (``clean``: how it quotes text)."""
        keys = ("chunk_id", "doc_id", "path", "start", "end", "text", "chunk_text", "kind",
                "score", "chunk_start")  # fmt: skip
        out = {k: getattr(self, k) for k in keys}
        if clean is not None:
            out["text"] = clean(self.text)
        return out


def is_overview(question: str) -> bool:
    """Questions about a whole note or a stretch of it ("what is this note about?", "summarize
    X", "what did I do in week 3?")."""
    return bool(_OVERVIEW.search(question))


def overview_passages(
    question: str,
    summaries: Sequence[Any],
    chunks: Mapping[str, Any] | Iterable[Any],
    *,
    hits: Sequence[Any] = (),
    paths: Mapping[str, str] | None = None,
    limit: int = MAX_PASSAGES,
) -> list[OverviewPassage]:
    """The summary sentences that answer an overview question, each with its span.

    A general question ("what is this note about?") gets the top-level summary of the hits'
    documents (or, without hits, of every document); a narrower one ("what did I do in
    week 3?") the map summaries of the hit chunks, in hit order. Empty when there are none.
    """
    by_id = dict(chunks) if isinstance(chunks, Mapping) else {c.id: c for c in chunks}
    paths = dict(paths or {})
    for hit in hits:
        paths.setdefault(hit.doc_id, getattr(hit, "path", ""))
    if _GENERAL.search(question) or not hits:
        chosen = _document_level(summaries, [h.doc_id for h in hits])
    else:
        chosen = _of_chunks(summaries, [h.chunk_id for h in hits]) or _document_level(
            summaries, [h.doc_id for h in hits]
        )
    out: list[OverviewPassage] = []
    for summary in chosen:
        out += _passages(summary, by_id, paths)
        if len(out) >= limit:
            break
    out = out[:limit]
    for rank, p in enumerate(out):
        p.score = OVERVIEW_SCORE - rank
    return out


def _document_level(summaries: Sequence[Any], doc_ids: Sequence[str]) -> list[Any]:
    """Each document's highest summary (the hits' documents, best first)."""
    top: dict[str, Any] = {}
    for s in summaries:
        if s.doc_id not in top or s.level > top[s.doc_id].level:
            top[s.doc_id] = s
    order = list(dict.fromkeys(doc_ids)) or sorted(top)
    return [top[d] for d in order[:MAX_DOCS] if d in top]


def _of_chunks(summaries: Sequence[Any], chunk_ids: Sequence[str]) -> list[Any]:
    """The map summary of each chunk, in the chunks' order."""
    maps = {c: s for s in summaries if s.level == 0 for c in s.source_chunk_ids}
    return list({maps[c].id: maps[c] for c in chunk_ids if c in maps}.values())


def _passages(
    summary: Any, chunks: Mapping[str, Any], paths: Mapping[str, str]
) -> list[OverviewPassage]:
    doc_chunks = [c for c in chunks.values() if c.doc_id == summary.doc_id]
    spans = list(getattr(summary, "spans", []) or [])
    method = getattr(summary, "method", "llm")
    out: list[OverviewPassage] = []
    if method == "extractive":  # its text is its sentences joined by single spaces
        offset = 0
        for a, b in spans:
            text = summary.text[offset : offset + b - a]
            offset += b - a + 1
            chunk = _holding(doc_chunks, a, b)
            if chunk is not None:
                out.append(_make(summary, chunk, a, b, text, paths))
        return out
    chunk = next((chunks[c] for c in summary.source_chunk_ids if c in chunks), None)
    if chunk is None:
        return out
    a, b = spans[0] if spans else (chunk.start, chunk.end)
    return [_make(summary, chunk, a, b, summary.text, paths)]


def _holding(chunks: Sequence[Any], a: int, b: int) -> Any:
    """The chunk that holds the span (or its middle, for one cut by a chunk's edge)."""
    inside = next((c for c in chunks if c.start <= a and b <= c.end), None)
    mid = (a + b) // 2
    return inside or next((c for c in chunks if c.start <= mid < c.end), None)


def _make(
    summary: Any, chunk: Any, a: int, b: int, text: str, paths: Mapping[str, str]
) -> OverviewPassage:
    return OverviewPassage(
        chunk_id=chunk.id,
        doc_id=summary.doc_id,
        path=paths.get(summary.doc_id, ""),
        start=a,
        end=b,
        text=text,
        chunk_text=chunk.text,
        core=text,
        chunk_start=chunk.start,
        summary_id=summary.id,
    )


def overview_answer(question: str, passages: Sequence[Any], facts: Sequence[Any] = ()) -> Any:
    """An overview question's answer: the context's summary sentences quoted in order, each
    cited to its own span (None when the context holds no summary). Choosing one candidate
    cannot answer "what is this note about?"; its summary can."""
    from kg.models import Answer, Citation

    chosen = [p for p in passages if getattr(p, "kind", "") == "summary"]
    if not chosen:
        return None
    citations = [
        Citation(n=n, chunk_id=p.chunk_id, doc_id=p.doc_id, path=p.path, start=p.start,
                 end=p.end, snippet=p.text, text=p.chunk_text, selected_by="summary")
        for n, p in enumerate(chosen, 1)
    ]  # fmt: skip
    text = " ".join(f"*{p.text}* [{n}]" for n, p in enumerate(chosen, 1))
    return Answer(question=question, answer=text, citations=citations, facts=list(facts),
                  selected_by="summary")  # fmt: skip
