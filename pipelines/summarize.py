"""Map-reduce summaries of long documents, following LangChain's map-reduce recipe.

The map step is free: every extraction call already returns a summary of its chunk (level 0).
The reduce step combines them with the LLM; when the map summaries together exceed the budget,
they are first split into groups that fit (``split_list_of_docs``) and each group is collapsed,
recursively, as in LangChain's ``collapse_docs``. Every level is kept, with what it came from,
and every LLM answer is cached so an unchanged corpus costs no calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.documents import Document as LCDocument
from langchain_core.prompts import ChatPromptTemplate

from kg.llm_cache import LLMCache, cache_key
from kg.models import Chunk, Document, LLMUsage, Summary, stable_id

PROMPT_VERSION = "reduce-v1"
TOKEN_MAX = 3000  # budget for the summaries given to one reduce call
MAX_REDUCE_LEVELS = 8

COLLAPSE_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You condense study notes. Keep names of courses, books, people, tools and "
                   "methods. Write plain prose, no lists, no preamble."),
        ("human", 'Below are summaries of consecutive parts of the document "{title}".\n\n'
                  "{docs}\n\nCombine them into one shorter summary (at most {words} words)."),
    ]
)  # fmt: skip


def length_function(docs: Sequence[LCDocument]) -> int:
    """Token estimate without a tokenizer download (about 4 characters per token)."""
    return sum(len(d.page_content) for d in docs) // 4 + 1


def split_list_of_docs(
    docs: Sequence[LCDocument], length_func: Callable[[Sequence[LCDocument]], int], token_max: int
) -> list[list[LCDocument]]:
    """Consecutive groups whose combined length stays under ``token_max`` (LangChain's rule)."""
    groups: list[list[LCDocument]] = []
    current: list[LCDocument] = []
    for doc in docs:
        current.append(doc)
        if length_func(current) > token_max and len(current) > 1:
            groups.append(current[:-1])
            current = current[-1:]
    if current:
        groups.append(current)
    return groups


def map_summaries(doc: Document, chunk_summaries: Sequence[tuple[Chunk, str]]) -> list[Summary]:
    """Level-0 summaries from the per-chunk summaries the extraction call returned."""
    return [
        Summary(
            id=stable_id("sum", doc.id, "0", chunk.id),
            doc_id=doc.id,
            level=0,
            text=text.strip(),
            source_chunk_ids=[chunk.id],
            spans=[(chunk.start, chunk.end)],  # the chunk it read (an LLM writes its own words)
            method="llm",
        )
        for chunk, text in chunk_summaries
        if text and text.strip()
    ]


def reduce_summaries(
    doc: Document,
    chunk_summaries: list[Summary],
    chat: Any,
    *,
    cache: LLMCache | None = None,
    model: str = "",
    usage: LLMUsage | None = None,
    token_max: int = TOKEN_MAX,
) -> list[Summary]:
    """Reduce the map summaries of one document; returns every collapse level and the final one.

    ``chat`` is a chat model, or a zero-argument callable returning one (so that a fully cached
    run never starts the LLM server). A document with one summary needs no reduce.
    """
    if len(chunk_summaries) < 2:
        return []
    usage = usage if usage is not None else LLMUsage()
    current = [_as_lc(s) for s in chunk_summaries]
    out: list[Summary] = []
    level = 1
    while length_function(current) > token_max and level < MAX_REDUCE_LEVELS:
        groups = split_list_of_docs(current, length_function, token_max)
        if len(groups) == len(current):  # every summary alone is over budget: just combine
            break
        collapsed = []
        for group in groups:
            if len(group) == 1:
                collapsed.append(group[0])
                continue
            summary = _combine(doc, group, level, chat, cache, model, usage)
            out.append(summary)
            collapsed.append(_as_lc(summary))
        current = collapsed
        level += 1
    out.append(_combine(doc, current, level, chat, cache, model, usage))
    return out


def _as_lc(summary: Summary) -> LCDocument:
    return LCDocument(
        page_content=summary.text,
        metadata={
            "id": summary.id,
            "chunk_ids": list(summary.source_chunk_ids),
            "spans": list(summary.spans),
        },
    )


def _combine(
    doc: Document,
    group: Sequence[LCDocument],
    level: int,
    chat: Any,
    cache: LLMCache | None,
    model: str,
    usage: LLMUsage,
) -> Summary:
    words = 250 if level == 1 else 200
    messages = COLLAPSE_PROMPT.format_messages(
        title=doc.title[:120],
        docs="\n\n".join(f"- {d.page_content}" for d in group),
        words=words,
    )
    key = cache_key(PROMPT_VERSION, model, *(m.content for m in messages))  # type: ignore[misc]
    entry = cache.get(key) if cache is not None else None
    if entry is not None:
        usage.cached += 1
        text = str(entry.get("text", ""))
    else:
        text = _call(chat, messages, usage)
        if cache is not None and text:
            cache.put(key, {"text": text})
    chunk_ids: list[str] = []
    for d in group:
        chunk_ids += [c for c in d.metadata["chunk_ids"] if c not in chunk_ids]
    source_ids = [d.metadata["id"] for d in group]
    spans = sorted({tuple(span) for d in group for span in d.metadata.get("spans", [])})
    if not text:  # the model failed: keep the level, built from its sources, never lose them
        text = " ".join(d.page_content for d in group)[:2000]
    return Summary(
        id=stable_id("sum", doc.id, str(level), *source_ids),
        doc_id=doc.id,
        level=level,
        text=text,
        source_chunk_ids=chunk_ids,
        source_summary_ids=source_ids,
        spans=spans,  # type: ignore[arg-type]
        method="llm",
    )


def _call(chat: Any, messages: list[Any], usage: LLMUsage) -> str:
    from kg.llm.client import LLMUnavailable, invoke_with_retry, usage_of

    model = chat() if callable(chat) and not hasattr(chat, "invoke") else chat
    try:
        message = invoke_with_retry(model, messages)
    except LLMUnavailable:
        raise
    except Exception:  # a refused or failed call: the caller falls back to the sources
        usage.calls += 1
        usage.failures += 1
        return ""
    usage.add(usage_of(message))
    content = message.content
    text = content if isinstance(content, str) else str(content)
    return _strip_think(text).strip()


def _strip_think(text: str) -> str:
    return re.sub(r"<think>.*?(</think>|$)", "", text, flags=re.DOTALL | re.IGNORECASE)
