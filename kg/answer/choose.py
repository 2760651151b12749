"""The LLM chooses among numbered candidates instead of writing: indices, then one sentence.

The prompt lists the passages and the candidates by number; the reply is JSON under a schema
narrowed to this call (``c`` in 0..len(candidates), ``p`` in 1..len(passages), and on the
sentence path ``s``, at most ~25 tokens), so a 1.5B model answers in ~10 output tokens and
cannot name anything outside the list. A reply that picks no candidate falls back to the
ranking's choice; a sentence that does not contain the chosen candidate's text is dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, create_model

from kg.answer.candidates import Candidate
from kg.answer.context import Passage
from kg.answer.question import Question

CHOICE_TOKENS = 15
SENTENCE_TOKENS = 25
SENTENCE_CHARS = 100  # ~25 tokens
PROMPT_CANDIDATES = 5
PROMPT_PASSAGES = 3
PASSAGE_CHARS = 180  # 3 x 180 chars + 5 candidates: ~190 prompt tokens, ~2 s quiet
SYSTEM = (
    "You answer questions about the user's notes by choosing. Passages from the notes and "
    "candidate answers found in them are numbered. Reply with JSON only."
)
_CHOICE = re.compile(r'"c"\s*:\s*(\d+)\s*,\s*"p"\s*:\s*(\d+)\s*[,}]')


@dataclass
class Choice:
    """What the LLM picked (1-based indices into the lists it saw; 0: none)."""

    candidate: int = 0
    passage: int = 0
    sentence: str = ""
    error: str | None = None
    usage: dict[str, float] = field(default_factory=dict)
    cut: bool = False  # the reply hit the token cap after its indices: no sentence
    early: bool = False  # the indices only, while the sentence is still being written


def choice_schema(n_candidates: int, n_passages: int, sentence: bool) -> type[BaseModel]:
    """The reply's schema for this call: indices in range; ``s`` only on the sentence path."""
    fields: dict[str, Any] = {
        "c": (int, Field(ge=0, le=max(1, n_candidates))),
        "p": (int, Field(ge=1, le=max(1, n_passages))),
    }
    if sentence:
        fields["s"] = (str, Field("", max_length=SENTENCE_CHARS))
    return create_model("AnswerChoice", **fields)


def shown(candidates: Sequence[Candidate], passages: Sequence[Passage]
          ) -> tuple[list[Candidate], list[int]]:  # fmt: skip
    """The candidates and passages the prompt lists: the best candidates, one text each, and
    the passages they stand in (then the best remaining ones)."""
    picked: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        key = c.text.lower()
        if key in seen or c.features.get("novelty", 1.0) == 0:
            continue
        seen.add(key)
        picked.append(c)
        if len(picked) == PROMPT_CANDIDATES:
            break
    order = list(dict.fromkeys(c.passage for c in picked))
    rest = sorted(range(len(passages)), key=lambda i: -passages[i].score)
    order += [i for i in rest if i not in order]
    return picked, order[:PROMPT_PASSAGES]


def messages(question: Question, candidates: Sequence[Candidate], passages: Sequence[Passage],
             order: Sequence[int], sentence: bool) -> list[tuple[str, str]]:  # fmt: skip
    number = {p: n for n, p in enumerate(order, 1)}
    lines = ["Passages:"]
    lines += [f"[{n}] {_clip(passages[p].text)}" for p, n in number.items()]
    lines.append("Candidates:")
    for n, c in enumerate(candidates, 1):
        kind = f" ({c.type})" if c.type else ""
        where = f" [{number[c.passage]}]" if c.passage in number else ""
        lines.append(f"{n}. {c.text}{kind}{where}")
    ask = ('{"c": the number of the candidate that answers the question, 0 if none does, '
           '"p": the passage that states it')  # fmt: skip
    ask += ', "s": one short sentence that answers the question and contains the candidate}' if (
        sentence) else "}"  # fmt: skip
    lines += [f"Question: {question.text}", f"Reply {ask}."]
    return [("system", SYSTEM), ("user", "\n".join(lines))]


def choose(chat: Any, question: Question, candidates: Sequence[Candidate],
           passages: Sequence[Passage], order: Sequence[int], sentence: bool
           ) -> Iterator[Choice]:  # fmt: skip
    """Yields the Choice as soon as its indices are written, then the final Choice."""
    schema = choice_schema(len(candidates), len(order), sentence)
    prompt = messages(question, candidates, passages, order, sentence)
    limit = CHOICE_TOKENS + (SENTENCE_TOKENS + 10 if sentence else 0)
    started = time.perf_counter()
    raw, usage, early = "", {}, False
    try:
        for piece, meta in _stream(chat, prompt, schema, limit):
            raw += piece
            usage.update(meta)
            m = _CHOICE.search(raw)
            if m and not early and sentence:
                early = True
                usage["choice_s"] = round(time.perf_counter() - started, 4)
                yield Choice(int(m.group(1)), int(m.group(2)), early=True)
    except Exception as exc:  # the LLM down or failing: the ranking's choice stands
        usage.update(_usage_of_error(exc))
        usage["llm_s"] = round(time.perf_counter() - started, 4)
        m = _CHOICE.search(raw)
        if m and "length" in str(exc):  # cut at the cap while writing the sentence
            yield Choice(int(m.group(1)), int(m.group(2)), usage=usage, cut=True)
            return
        yield Choice(error=f"LLM unavailable ({exc})", usage=usage)
        return
    usage["llm_s"] = round(time.perf_counter() - started, 4)
    usage.setdefault("choice_s", usage["llm_s"])
    yield parse(raw, schema, usage)


def parse(raw: str, schema: type[BaseModel], usage: dict[str, float]) -> Choice:
    from kg.llm.client import lenient_json

    try:
        data = schema.model_validate(lenient_json(raw))
    except ValueError as exc:
        return Choice(error=f"unusable reply {raw[:80]!r}: {str(exc)[:120]}", usage=usage)
    return Choice(int(data.c), int(data.p), str(getattr(data, "s", "") or ""), usage=usage)


def _usage_of_error(exc: Exception) -> dict[str, float]:
    """Token counts from a length-limit error's message (the reply was cut at max_tokens)."""
    found = dict(re.findall(r"\b(prompt_tokens|completion_tokens)=(\d+)", str(exc)))
    return {k: float(v) for k, v in found.items()}


def _usage(chunk: Any) -> dict[str, float]:
    """Token counts of a stream chunk: ``usage_metadata``, or (structured-output streams)
    ``response_metadata["token_usage"]``."""
    meta = getattr(chunk, "usage_metadata", None) or {}
    if meta:
        return {"prompt_tokens": float(meta.get("input_tokens") or 0),
                "completion_tokens": float(meta.get("output_tokens") or 0)}  # fmt: skip
    used = (getattr(chunk, "response_metadata", None) or {}).get("token_usage") or {}
    if used:
        return {"prompt_tokens": float(used.get("prompt_tokens") or 0),
                "completion_tokens": float(used.get("completion_tokens") or 0)}  # fmt: skip
    return {}


def _clip(text: str, limit: int = PASSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _stream(chat: Any, prompt: list[tuple[str, str]], schema: type[BaseModel], max_tokens: int
            ) -> Iterator[tuple[str, dict[str, float]]]:  # fmt: skip
    """(text piece, usage) pairs of a schema-constrained reply; retries connection errors
    before the first piece only."""
    from kg.llm.client import (
        BACKOFF_S,
        RETRIES,
        is_connection_error,
        is_openai_chat,
        response_format,
    )

    kwargs: dict[str, Any] = {}
    if is_openai_chat(chat):
        kwargs = {"response_format": response_format(schema), "max_tokens": max_tokens}
    delay = BACKOFF_S
    for attempt in range(RETRIES):
        produced = False
        try:
            for chunk in chat.stream(prompt, **kwargs):
                usage = _usage(chunk)
                content = chunk.content if isinstance(chunk.content, str) else ""
                produced = produced or bool(content)
                yield content, usage
            return
        except Exception as exc:
            if produced or attempt == RETRIES - 1 or not is_connection_error(exc):
                raise
            time.sleep(delay)
            delay *= 2
