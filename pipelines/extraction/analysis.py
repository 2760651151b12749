"""spaCy's work per chunk (candidates, or the whole spaCy tier's result), cached on disk.

Parsing is the slow part of a re-run, so results are keyed by chunk id and text (and everything
that changes them) and a re-run over an unchanged corpus loads them instead of parsing, and
never loads the spaCy model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from kg.llm_cache import LLMCache, cache_key
from kg.models import Chunk, Document
from kg.ontology import Ontology
from pipelines.extraction.candidates import Candidate, MentionFinder
from pipelines.extraction.dependency import extract_chunk_spacy
from pipelines.extraction.results import ChunkResult, dump_result, load_result

SPACY_CACHE_VERSION = "spacy-v2"  # bump when candidates or the spaCy tier change
SPACY_MODEL_NAME = "en_core_web_sm-3.8.0"


class Analysis:
    """Candidates for every chunk and, when ``spacy_tier``, the spaCy tier's result too."""

    def __init__(
        self,
        ontology: Ontology,
        cache: LLMCache,
        spacy_tier: bool,
        *,
        cooccurrence: bool = False,
        named_only: bool = False,
    ) -> None:
        self.ontology = ontology
        self.named_only = named_only
        self.cache = cache
        self.spacy_tier = spacy_tier
        self.cooccurrence = cooccurrence
        self._finder: MentionFinder | None = None
        self._lock = threading.Lock()
        self._memo: dict[str, Any] = {}
        self.parsed: dict[str, Any] = {}  # chunk id -> the spaCy Doc parsed this run (reused)

    def finder(self) -> MentionFinder:
        with self._lock:
            if self._finder is None:
                self._finder = MentionFinder(self.ontology, named_only=self.named_only)
            return self._finder

    def key(self, chunk: Chunk) -> str:
        mode = f"result:cooccurrence={self.cooccurrence}" if self.spacy_tier else "candidates"
        if self.named_only:
            mode += ":named-only"
        return cache_key(SPACY_CACHE_VERSION, SPACY_MODEL_NAME, self.ontology.fingerprint(), mode,
                         chunk.id, chunk.text)  # fmt: skip

    namespace = "spacy"

    def _analyse(self, chunks: Sequence[Chunk]) -> Iterator[tuple[Chunk, Any, Any]]:
        """(chunk, spaCy Doc, cache value) for ``chunks``, parsed in batches."""
        for chunk, doc, cands in self.finder().analyse(list(chunks)):
            if self.spacy_tier:
                result = extract_chunk_spacy(
                    chunk, doc, cands, self.ontology, cooccurrence=self.cooccurrence
                )
                yield chunk, doc, dump_result(result)
            else:
                yield chunk, doc, [asdict(c) for c in cands]

    def compute(self, chunks: Sequence[Chunk]) -> dict[str, Any]:
        """Cache key -> cached value for ``chunks`` (parsed in batches); touches no cache."""
        return {self.key(chunk): value for chunk, _doc, value in self._analyse(chunks)}

    def prepare(self, chunks: Sequence[Chunk]) -> None:
        """Parse (in batches) only the chunks that are not cached yet."""
        missing = [c for c in chunks if self.key(c) not in self.cache]
        if not missing:
            return
        values: dict[str, Any] = {}
        for chunk, doc, value in self._analyse(missing):
            values[self.key(chunk)] = value
            self._memo[chunk.id] = value
            self.parsed[chunk.id] = doc  # the language pass reuses this run's parses
        self.cache.put_many(values)

    def _value(self, chunk: Chunk) -> Any:
        value = self._memo.pop(chunk.id, None)
        if value is None:
            value = self.cache.get(self.key(chunk))
        if value is None:  # removed behind our back: parse again
            self.prepare([chunk])
            value = self._memo.pop(chunk.id)
        return value

    def candidates(self, chunk: Chunk) -> list[Candidate]:
        return [Candidate(**c) for c in self._value(chunk)]

    def spacy_result(self, chunk: Chunk) -> ChunkResult:
        return load_result(chunk, self._value(chunk))

    def spacy_stage(self, document: Document, chunks: list[Chunk]) -> dict[str, ChunkResult]:
        """The spaCy tier as a pipeline stage (parsed in ``prepare``, so this only reads)."""
        return {c.id: self.spacy_result(c) for c in chunks}

    def doc(self, chunk: Chunk) -> Any:
        return self.finder().nlp(chunk.text)
