"""The LLM alone extracting a chunk (entities, relations, summary): ``kg eval scierc --tier llm``.

Not kg extract's path any more (that is ``llm_verify``: the LLM verifies the trained tier); kept
as the comparison the benchmarks report. One call per chunk (cached), one retry on unusable
output, spaCy as the fallback. ``LazyChat`` builds the chat model on the first cache miss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kg.llm_cache import LLMCache, cache_key
from kg.models import Chunk, ChunkExtraction, LLMUsage
from kg.ontology import Ontology
from pipelines.extraction.candidates import Candidate
from pipelines.extraction.dependency import extract_chunk_spacy
from pipelines.extraction.prompts import (
    MAX_OUTPUT_TOKENS,
    PROMPT_VERSION,
    build_messages,
)
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.validation import usable, validate_extraction

if TYPE_CHECKING:
    from kg.config import Settings

class ChunkExtractor:
    """Runs (or replays from the cache) the LLM call of a chunk and validates the answer."""

    def __init__(
        self,
        ontology: Ontology,
        chat: Callable[[], Any],
        cache: LLMCache | None,
        model: str,
        *,
        cooccurrence: bool = False,
    ) -> None:
        self.ontology = ontology
        self.chat = chat
        self.cache = cache
        self.model = model
        self.cooccurrence = cooccurrence  # for the spaCy fallback

    def key(self, chunk: Chunk, context: str) -> str:
        return cache_key(
            PROMPT_VERSION, self.model, self.ontology.fingerprint(), context, chunk.text
        )

    def is_cached(self, chunk: Chunk, context: str) -> bool:
        return self.cache is not None and self.key(chunk, context) in self.cache

    def extract(
        self, chunk: Chunk, candidates: Sequence[Candidate], context: str, spacy_doc: Any = None
    ) -> ChunkResult:
        key = self.key(chunk, context)
        entry = self.cache.get(key) if self.cache is not None else None
        usage = LLMUsage()
        if entry is not None:
            usage.cached = 1
        else:
            entry = self._call(chunk, candidates, context)
            if self.cache is not None:
                self.cache.put(key, entry)
            usage = LLMUsage.model_validate(entry["usage"])
        parsed = entry.get("parsed")
        result = validate_extraction(parsed, chunk, candidates, self.ontology)
        result.usage = usage
        if usable(parsed) is not None:
            # the model gave nothing usable twice: keep the chunk in the graph via spaCy
            result.rejected[0].reason += f" (after retry: {entry.get('error')})"
            if callable(spacy_doc):  # parsed on demand: cached runs never need it
                spacy_doc = spacy_doc()
            if spacy_doc is not None:
                fallback = extract_chunk_spacy(
                    chunk, spacy_doc, candidates, self.ontology, cooccurrence=self.cooccurrence
                )
                fallback.rejected = result.rejected
                fallback.usage = usage
                return fallback
        return result

    def _call(self, chunk: Chunk, candidates: Sequence[Candidate], context: str) -> dict[str, Any]:
        from langchain_core.messages import AIMessage, HumanMessage

        from kg.llm.client import invoke_json

        chat = self.chat()
        messages = build_messages(chunk, candidates, self.ontology, context)
        usage = LLMUsage()
        result = invoke_json(chat, messages, ChunkExtraction, max_tokens=MAX_OUTPUT_TOKENS)
        usage.add(result.usage)
        parsed = _parsed(result)
        problem = usable(parsed)
        error = result.error
        if problem is not None:  # one retry, telling the model what was wrong
            reason = (error or problem or "")[:300]
            shorter = (
                " It was too long: give at most 6 entities and 4 relations and a one-sentence "
                "summary."
                if "length" in reason.lower()
                else ""
            )
            messages += [
                AIMessage(content=(result.raw or "")[:2000]),
                HumanMessage(
                    content=f"That answer was not usable ({reason}).{shorter} Reply again with "
                    "only the JSON object with keys summary, entities, relations."
                ),
            ]
            retry = invoke_json(chat, messages, ChunkExtraction, max_tokens=MAX_OUTPUT_TOKENS)
            usage.add(retry.usage)
            if usable(_parsed(retry)) is None:
                parsed, error = _parsed(retry), retry.error
            else:
                error = retry.error or usable(_parsed(retry))
        return {"parsed": parsed, "error": error, "usage": usage.model_dump()}


def _parsed(result: Any) -> Any:
    data = getattr(result, "data", None)
    if data is not None:
        return data.model_dump() if hasattr(data, "model_dump") else data
    return getattr(result, "parsed", None)


class LazyChat:
    """Builds the chat model (and starts the offline server) only on the first cache miss."""

    def __init__(self, settings: Settings, chat: Any = None) -> None:
        self.settings = settings
        self._chat = chat
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._chat is None:
                from kg.llm.client import chat_model

                self._chat = chat_model(self.settings, max_tokens=MAX_OUTPUT_TOKENS)
            return self._chat
