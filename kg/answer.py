"""Grounded, cited answers: graph facts first, then the sentences that answer the question.

The LLM sees numbered passages (the sentence or table row that states each graph fact, then the
question's best sentences; summaries for an overview question) and must cite them as [1], [2].
Each citation points at the passage's span in its document, and is checked against the answer:
one that does not state the answer's terms is replaced by one that does (kg.answer_cite).
Without an LLM (none configured, or it failed) the answer is extractive: the best-matching
passages, cited. The prompt is short because the default model is a 1.5B one on CPU
(kg.answer_context has the measured budget).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from kg.answer_cite import (
    choose_citations,
    cited_numbers,
    extractive,
    question_coverage,
    strip_invalid,
    strip_markers,
)
from kg.answer_context import Passage, build_context
from kg.answer_text import adds_nothing, clip
from kg.models import Answer, GraphFact, SearchHit

__all__ = ["INSTRUCTION", "NOT_IN_CORPUS", "answer", "build_messages", "cited_numbers",
           "fact_line", "stream_answer"]  # fmt: skip

NOT_IN_CORPUS = "not in the corpus"
MAX_FACT_LINES = 6
MAX_ROWS = 10
HISTORY_TURNS = 3
HISTORY_CHARS = 200
ANSWER_MAX_TOKENS = 100  # ~3 s at ~30 tokens/s; answers are one to three sentences
DOUBT_NOT_IN_CORPUS = 0.5  # a passage stating this share of the question's terms answers it

PROMPT_FILE = Path(__file__).parent / "prompts" / "answer.yaml"
_PROMPT = yaml.safe_load(PROMPT_FILE.read_text(encoding="utf-8"))
SYSTEM: str = _PROMPT["system"].format(not_in_corpus=NOT_IN_CORPUS)
INSTRUCTION: str = _PROMPT["instruction"].format(not_in_corpus=NOT_IN_CORPUS)


def answer(
    question: str,
    hits: list[SearchHit],
    facts: list[GraphFact],
    chat: Any | None,
    history: Sequence[tuple[str, str]] = (),
    passages: Sequence[Passage] | None = None,
) -> Answer:
    final: Answer | None = None
    for item in stream_answer(question, hits, facts, chat, history=history, passages=passages):
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
    passages: Sequence[Passage] | None = None,
) -> Iterator[str | Answer]:
    """Yields the answer's text deltas as the LLM writes them, then the final Answer.

    ``passages`` is the prompt's context (kg.answer_context.build_context); built from the hits
    and facts alone when not given."""
    sources = list(passages) if passages is not None else build_context(question, hits, facts)
    if chat is None:
        yield _extractive(question, sources, facts, "no LLM: retrieval-only extractive answer")
        return
    if not sources and not facts:
        yield Answer(question=question, answer=NOT_IN_CORPUS, facts=facts)
        return

    messages = build_messages(question, sources, facts, history)
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    usage: dict[str, float] = {}
    try:
        for delta, meta in _stream(chat, messages):
            if meta:
                usage.update(meta)
            if delta:
                first = first if first is not None else time.perf_counter() - started
                parts.append(delta)
                yield delta
    except Exception as exc:  # LLM down or failing: answer from retrieval alone
        yield _extractive(question, sources, facts, f"LLM unavailable ({exc}); extractive answer")
        return
    result = _finish(question, "".join(parts), sources, facts)
    result.timings = {
        "llm_s": round(time.perf_counter() - started, 4),
        "first_token_s": round(first or 0.0, 4),
        "prompt_chars": float(sum(len(c) for _, c in messages)),
        **usage,
        **result.timings,
    }
    yield result


def build_messages(
    question: str,
    sources: Sequence[Passage],
    facts: Sequence[GraphFact],
    history: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """System + one user message: graph facts (each with the source that states it), the
    numbered sources, the last turns, then the question and the instruction."""
    blocks: list[str] = []
    lines: list[str] = []
    stated = [(p.fact, n) for n, p in enumerate(sources, 1) if p.fact is not None]
    for fact in facts:
        n = next((n for f, n in stated if f == fact), None)
        if n is not None:
            lines.append(f"- {fact_line(fact)} [{n}]")
    rows = [f for f in facts if not f.tail][:MAX_ROWS]  # Cypher result rows
    others = [f for f in facts if f.tail and all(f != g for g, _ in stated)]
    lines += [f"- {fact_line(f)}" for f in rows]
    lines += [f"- {fact_line(f)}" for f in others[: max(0, MAX_FACT_LINES - len(lines))]]
    if lines:
        blocks.append("Graph facts:\n" + "\n".join(lines))
    if sources:
        blocks.append(
            "Sources:\n"
            + "\n".join(f"[{n}] ({_where(p)}) {_one_line(p)}" for n, p in enumerate(sources, 1))
        )
    turns = list(history)[-HISTORY_TURNS:]
    if turns:
        convo = "\n".join(f"Q: {q}\nA: {clip(a, HISTORY_CHARS)}" for q, a in turns)
        blocks.append("Earlier conversation (use it to understand follow-up questions):\n" + convo)
    blocks.append(f"Question: {question}\n{INSTRUCTION}")
    return [("system", SYSTEM), ("user", "\n\n".join(blocks))]


def fact_line(fact: GraphFact) -> str:
    if not fact.tail:  # a Cypher result row
        return fact.head
    head = f"{fact.head} ({fact.head_type})" if fact.head_type else fact.head
    tail = f"{fact.tail} ({fact.tail_type})" if fact.tail_type else fact.tail
    return f"{head} -{fact.type}-> {tail}"


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


def _finish(question: str, text: str, sources: Sequence[Passage], facts: list[GraphFact]) -> Answer:
    text = re.sub(r"<think>.*?(</think>|$)", "", text, flags=re.DOTALL).strip()
    text = strip_invalid(text, len(sources))
    if NOT_IN_CORPUS in text.lower() and not cited_numbers(text, len(sources)):
        # a 1.5B model often gives up on a question its sources answer: quote them instead
        if sources and max(question_coverage(question, p) for p in sources) >= DOUBT_NOT_IN_CORPUS:
            return _extractive(
                question, sources, facts, "the LLM found no answer; quoting the best sources"
            )
        return Answer(question=question, answer=NOT_IN_CORPUS, facts=facts)
    if not text:
        return _extractive(question, sources, facts, "the LLM returned nothing; extractive answer")
    if sources and adds_nothing(strip_markers(text), question):
        # a restatement of the question ("The course covered K-means clustering."): no answer
        return _extractive(
            question, sources, facts, "the LLM's answer only restates the question; quoting sources"
        )
    text, citations, warnings = choose_citations(question, text, sources)
    return Answer(
        question=question, answer=text, citations=citations, facts=facts, warnings=warnings
    )


def _extractive(
    question: str, sources: Sequence[Passage], facts: list[GraphFact], warning: str
) -> Answer:
    text, citations = extractive(question, sources)
    if not text:
        return Answer(question=question, answer=NOT_IN_CORPUS, facts=facts, warnings=[warning])
    return Answer(
        question=question, answer=text, citations=citations, facts=facts, warnings=[warning]
    )


def _one_line(p: Passage) -> str:
    from kg.answer_context import PASSAGE_CHARS

    return clip(p.text, PASSAGE_CHARS)


def _where(p: Passage) -> str:
    name = p.path.rsplit("/", 1)[-1] if p.path else p.doc_id
    return f"{name}, summary" if p.kind == "summary" else name
