"""Grounded, cited answers from retrieved chunks and graph facts.

The LLM sees numbered sources and must cite them as [1], [2]; the Answer's citations are only the
sources the text actually cites. Without an LLM (none configured, or it failed) the answer is
extractive: the sentences of the top chunks that best match the question, with citations.
The prompt is kept short because the default model is a 1.5B one with an 8k context.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kg.models import Answer, Citation, GraphFact, SearchHit

NOT_IN_CORPUS = "not in the corpus"
MAX_CHUNKS = 6
MAX_CHUNK_CHARS = 1200
MAX_FACTS = 15
HISTORY_TURNS = 3
HISTORY_CHARS = 300
ANSWER_MAX_TOKENS = 384
SNIPPET_CHARS = 240

SYSTEM = (
    "You answer questions about the user's own notes using only the numbered sources and the "
    "graph facts given."
)
# Small models follow an instruction best when it comes right after the question.
INSTRUCTION = (
    "Write a one- to three-sentence answer that states the specific names, titles or numbers "
    "from the sources, citing the source number in brackets like [1]. If the sources do not "
    f"answer it, write exactly: {NOT_IN_CORPUS}."
)

_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.\-]*")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by did do does for from had has have how i in is it its me my of "
        "on or that the their them then there these this to was were what when where which who "
        "whom why will with you your about into than also can could should would",
    )
)


def answer(
    question: str,
    hits: list[SearchHit],
    facts: list[GraphFact],
    chat: Any | None,
    history: Sequence[tuple[str, str]] = (),
) -> Answer:
    final: Answer | None = None
    for item in stream_answer(question, hits, facts, chat, history=history):
        if isinstance(item, Answer):
            final = item
    assert final is not None  # stream_answer always ends with an Answer
    return final


def stream_answer(
    question: str,
    hits: list[SearchHit],
    facts: list[GraphFact],
    chat: Any | None,
    history: Sequence[tuple[str, str]] = (),
) -> Iterator[str | Answer]:
    """Yields the answer's text deltas as the LLM writes them, then the final Answer."""
    sources = hits[:MAX_CHUNKS]
    facts = facts[:MAX_FACTS]
    if chat is None:
        yield _extractive(question, sources, facts, "no LLM: retrieval-only extractive answer")
        return
    if not sources and not facts:
        yield Answer(question=question, answer=NOT_IN_CORPUS, facts=facts)
        return

    messages = build_messages(question, sources, facts, history)
    started = time.perf_counter()
    parts: list[str] = []
    usage: dict[str, float] = {}
    try:
        for delta, meta in _stream(chat, messages):
            if meta:
                usage.update(meta)
            if delta:
                parts.append(delta)
                yield delta
    except Exception as exc:  # LLM down or failing: answer from retrieval alone
        yield _extractive(question, sources, facts, f"LLM unavailable ({exc}); extractive answer")
        return
    text = "".join(parts)
    result = _finish(question, text, sources, facts)
    result.timings = {"llm_s": round(time.perf_counter() - started, 4), **usage}
    yield result


def build_messages(
    question: str,
    sources: Sequence[SearchHit],
    facts: Sequence[GraphFact],
    history: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """System + one user message: sources, facts, the last turns, then the question."""
    blocks: list[str] = []
    sources, facts = list(sources)[:MAX_CHUNKS], list(facts)[:MAX_FACTS]
    if sources:
        lines = [f"[{n}] ({_where(hit)}) {_clip(hit.text, MAX_CHUNK_CHARS)}" for n, hit in
                 enumerate(sources, 1)]  # fmt: skip
        blocks.append("Sources:\n" + "\n\n".join(lines))
    if facts:
        blocks.append("Graph facts:\n" + "\n".join(f"- {fact_line(f)}" for f in facts))
    turns = list(history)[-HISTORY_TURNS:]
    if turns:
        convo = "\n".join(f"Q: {q}\nA: {_clip(a, HISTORY_CHARS)}" for q, a in turns)
        blocks.append("Earlier conversation (use it to understand follow-up questions):\n" + convo)
    blocks.append(f"Question: {question}\n{INSTRUCTION}")
    return [("system", SYSTEM), ("user", "\n\n".join(blocks))]


def fact_line(fact: GraphFact) -> str:
    if not fact.tail:  # a Cypher result row
        return fact.head
    head = f"{fact.head} ({fact.head_type})" if fact.head_type else fact.head
    tail = f"{fact.tail} ({fact.tail_type})" if fact.tail_type else fact.tail
    return f"{head} -{fact.type}-> {tail}"


def cited_numbers(text: str, n_sources: int) -> list[int]:
    """Source numbers cited in the text, in order of first citation, within 1..n_sources."""
    seen: list[int] = []
    for match in _CITE.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= n_sources and n not in seen:
                seen.append(n)
    return seen


def citation(n: int, hit: SearchHit, question: str = "") -> Citation:
    return Citation(
        n=n,
        chunk_id=hit.chunk_id,
        doc_id=hit.doc_id,
        path=hit.path,
        start=hit.start,
        end=hit.end,
        snippet=_snippet(hit.text, question),
        text=hit.text,
    )


# ---------------------------------------------------------------- internals


def _stream(chat: Any, messages: list[tuple[str, str]]) -> Iterator[tuple[str, dict[str, float]]]:
    """(text delta, usage) pairs; retries connection errors before the first token only."""
    from kg.llm.client import BACKOFF_S, RETRIES, is_connection_error, is_openai_chat

    kwargs: dict[str, Any] = {"max_tokens": ANSWER_MAX_TOKENS} if is_openai_chat(chat) else {}
    delay = BACKOFF_S
    for attempt in range(RETRIES):
        produced = False
        try:
            for chunk in chat.stream(messages, **kwargs):
                meta = getattr(chunk, "usage_metadata", None) or {}
                usage = (
                    {
                        "prompt_tokens": float(meta.get("input_tokens") or 0),
                        "completion_tokens": float(meta.get("output_tokens") or 0),
                    }
                    if meta
                    else {}
                )
                content = chunk.content if isinstance(chunk.content, str) else ""
                produced = produced or bool(content)
                yield content, usage
            return
        except Exception as exc:
            if produced or attempt == RETRIES - 1 or not is_connection_error(exc):
                raise
            time.sleep(delay)
            delay *= 2


def _finish(
    question: str, text: str, sources: Sequence[SearchHit], facts: list[GraphFact]
) -> Answer:
    text = re.sub(r"<think>.*?(</think>|$)", "", text, flags=re.DOTALL).strip()
    numbers = cited_numbers(text, len(sources))
    # drop citation markers that point at no source
    text = _CITE.sub(lambda m: m.group(0) if _valid(m, len(sources)) else "", text).strip()
    warnings: list[str] = []
    if not numbers and NOT_IN_CORPUS in text.lower():
        return Answer(question=question, answer=NOT_IN_CORPUS, facts=facts)
    if not text:
        return _extractive(question, sources, facts, "the LLM returned nothing; extractive answer")
    if not numbers and sources:
        # small models often forget the marker: cite the source that shares most of the answer
        answer_terms = _terms(text)
        overlap = [len(answer_terms & _terms(hit.text)) for hit in sources]
        numbers = [overlap.index(max(overlap)) + 1]
        text = f"{text} [{numbers[0]}]"
        warnings.append("the LLM cited no source; cited the one its answer overlaps most")
    citations = [citation(n, sources[n - 1], question) for n in numbers]
    return Answer(
        question=question, answer=text, citations=citations, facts=facts, warnings=warnings
    )


def _valid(match: re.Match[str], n_sources: int) -> bool:
    return all(1 <= int(p) <= n_sources for p in match.group(1).split(","))


def _terms(text: str) -> set[str]:
    return {w.lower().strip(".-") for w in _WORD.findall(text)} - _STOP - {""}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if len(s.strip().split()) >= 3]


def _extractive(
    question: str, sources: Sequence[SearchHit], facts: list[GraphFact], warning: str
) -> Answer:
    """The best-matching sentences of the top chunks, each cited: an answer without an LLM."""
    terms = _terms(question)
    scored: list[tuple[float, int, int, str]] = []
    for n, hit in enumerate(sources[:3], 1):
        for pos, sentence in enumerate(_sentences(hit.text)):
            overlap = len(terms & _terms(sentence))
            if overlap:
                # prefer higher-ranked chunks and earlier sentences on ties
                scored.append((overlap - 0.1 * (n - 1), -pos, n, sentence))
    if not scored:
        return Answer(question=question, answer=NOT_IN_CORPUS, facts=facts, warnings=[warning])
    ranked = sorted(scored, reverse=True)
    # weak matches (a shared common word) only add noise next to a strong one
    best = [item for item in ranked[:3] if item[0] >= ranked[0][0] / 2]
    lines = [f"{_clip(sentence, 400)} [{n}]" for _, _, n, sentence in best]
    numbers = list(dict.fromkeys(n for _, _, n, _ in best))
    return Answer(
        question=question,
        answer=" ".join(lines),
        citations=[citation(n, sources[n - 1], question) for n in sorted(numbers)],
        facts=facts,
        warnings=[warning],
    )


def _snippet(text: str, question: str) -> str:
    """The chunk's sentence that best matches the question (else its start), clipped."""
    terms = _terms(question)
    sentences = _sentences(text)
    if terms and sentences:
        best = max(sentences, key=lambda s: len(terms & _terms(s)))
        if terms & _terms(best):
            return _clip(best, SNIPPET_CHARS)
    return _clip(text.strip(), SNIPPET_CHARS)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _where(hit: SearchHit) -> str:
    return hit.path.rsplit("/", 1)[-1] if hit.path else hit.doc_id
