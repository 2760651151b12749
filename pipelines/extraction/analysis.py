"""spaCy's work per chunk (candidates, or the whole spaCy tier's result), cached on disk.

Parsing is the slow part of a re-run, so results are keyed by chunk id and text (and everything
that changes them) and a re-run over an unchanged corpus loads them instead of parsing, and
never loads the spaCy model.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from kg.llm_cache import LLMCache, cache_key
from kg.models import Chunk, Document, Entity, Rejected, Relation
from kg.ontology import Ontology
from pipelines.extraction.candidates import Candidate, MentionFinder
from pipelines.extraction.dependency import extract_chunk_spacy
from pipelines.extraction.results import ChunkResult, RelationSpan

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

    def prepare(self, chunks: Sequence[Chunk]) -> None:
        """Parse (in batches) only the chunks that are not cached yet."""
        missing = [c for c in chunks if self.key(c) not in self.cache]
        if not missing:
            return
        for chunk, doc, cands in self.finder().analyse(missing):
            if self.spacy_tier:
                result = extract_chunk_spacy(
                    chunk, doc, cands, self.ontology, cooccurrence=self.cooccurrence
                )
                value: Any = dump_result(result)
            else:
                value = [asdict(c) for c in cands]
            self.cache.put(self.key(chunk), value)
            self._memo[chunk.id] = value
            self.parsed[chunk.id] = doc

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


def _dump_spans(spans: list[RelationSpan]) -> list[dict[str, Any]]:
    return [
        {"relation": r.relation.model_dump(mode="json"), "head_span": list(r.head_span),
         "tail_span": list(r.tail_span)}
        for r in spans
    ]  # fmt: skip


def _load_spans(rows: list[dict[str, Any]]) -> list[RelationSpan]:
    return [
        RelationSpan(Relation.model_validate(r["relation"]), tuple(r["head_span"]),
                     tuple(r["tail_span"]))
        for r in rows
    ]  # fmt: skip


def dump_result(result: ChunkResult) -> dict[str, Any]:
    return {
        "summary": result.summary,
        "entities": [e.model_dump(mode="json") for e in result.entities],
        "relations": _dump_spans(result.relations),
        "candidates": _dump_spans(result.candidates),
        "rejected": [r.model_dump(mode="json") for r in result.rejected],
    }


def load_result(chunk: Chunk, data: dict[str, Any]) -> ChunkResult:
    return ChunkResult(
        chunk=chunk,
        summary=data.get("summary", ""),
        entities=[Entity.model_validate(e) for e in data["entities"]],
        relations=_load_spans(data["relations"]),
        candidates=_load_spans(data.get("candidates", [])),
        rejected=[Rejected.model_validate(r) for r in data["rejected"]],
    )
