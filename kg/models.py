"""The contract between kg's stages.

Every stage reads and writes these models and nothing else:
documents -> chunks -> (summaries) -> extractions -> graph -> store -> retrieval -> answer.
Ids are derived from content so that re-running a stage reproduces the same ids.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kg.text import normalize_name as normalize_name  # re-exported: stages import it here


def stable_id(prefix: str, *parts: str, length: int = 16) -> str:
    """A short, deterministic id: the same parts always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}_{digest[:length]}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entity_id(name: str, type_: str) -> str:
    return stable_id("ent", type_, normalize_name(name))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Document(_Model):
    """One source file; the id is the hash of its text, so duplicates collapse."""

    id: str
    path: str
    title: str
    chars: int
    sha256: str
    text: str
    format: str = "text"
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def from_text(cls, path: str, text: str, title: str | None = None, **kw: Any) -> Document:
        digest = content_hash(text)
        first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        first_line = first_line.lstrip("#").strip() or first_line  # a Markdown heading's text
        return cls(
            id=f"doc_{digest[:16]}",
            path=path,
            title=title or first_line[:120] or path,
            chars=len(text),
            sha256=digest,
            text=text,
            **kw,
        )


class Chunk(_Model):
    """A span of a document; ``doc.text[start:end] == text`` always holds."""

    id: str
    doc_id: str
    index: int
    start: int
    end: int
    text: str

    @model_validator(mode="after")
    def _span(self) -> Chunk:
        if self.end < self.start:
            raise ValueError("chunk end before start")
        if self.end - self.start != len(self.text):
            raise ValueError("chunk span length differs from its text")
        return self

    @classmethod
    def make(cls, doc_id: str, index: int, start: int, text: str) -> Chunk:
        end = start + len(text)
        return cls(
            id=stable_id("chk", doc_id, str(start), str(end)),
            doc_id=doc_id,
            index=index,
            start=start,
            end=end,
            text=text,
        )


class Mention(_Model):
    """Where an entity is named: character offsets into the document (not the chunk)."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str


class Entity(_Model):
    id: str
    name: str
    type: str
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    mentions: list[Mention] = Field(default_factory=list)
    source: str = "spacy"
    type_reason: str = ""  # why it has this type ("context: the X library", "structure", ...)

    @classmethod
    def make(cls, name: str, type_: str, **kw: Any) -> Entity:
        return cls(id=entity_id(name, type_), name=name, type=type_, **kw)


class Evidence(_Model):
    """The text that supports a relation: a chunk and a span in document offsets."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str = ""


class Relation(_Model):
    id: str
    head_id: str
    type: str
    tail_id: str
    evidence: list[Evidence] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    extractor: str = "llm"
    description: str = ""
    predicate: str | None = None  # an open relation's normalised verb phrase ("be capital of")

    @classmethod
    def make(cls, head_id: str, type_: str, tail_id: str, **kw: Any) -> Relation:
        return cls(
            id=stable_id("rel", head_id, type_, tail_id),
            head_id=head_id,
            type=type_,
            tail_id=tail_id,
            **kw,
        )


class Summary(_Model):
    """A map (level 0, one chunk) or reduce (level >= 1) summary, with what it came from."""

    id: str
    doc_id: str
    level: int
    text: str
    source_chunk_ids: list[str] = Field(default_factory=list)
    source_summary_ids: list[str] = Field(default_factory=list)
    # document offsets of the sentences an extractive summary is made of (its text is those
    # sentences joined by spaces); an LLM summary gives the spans of the chunks it read
    spans: list[tuple[int, int]] = Field(default_factory=list)
    method: Literal["extractive", "llm"] = "llm"  # summaries written before this field: LLM


class Rejected(_Model):
    """An LLM item that failed validation, kept so that nothing is silently lost."""

    chunk_id: str
    kind: Literal["entity", "relation", "output"]
    item: Any
    reason: str


class Merge(_Model):
    """One entity-resolution decision, for auditing."""

    kept_id: str
    merged_id: str
    kept_name: str
    merged_name: str
    type: str
    rule: str
    score: float = 1.0
    # for review (`kg merges`): one id per pair of entities, why the rule fired, what supports it
    id: str = ""
    reason: str = ""
    evidence: list[str] = Field(default_factory=list)
    # applied (in merges.jsonl) | candidate (a rule proposed it, not applied) | rejected (a
    # reviewer said no); decision is what `kg merges accept|reject` recorded, if anything
    status: Literal["applied", "candidate", "rejected"] = "applied"
    decision: Literal["", "accept", "reject"] = ""


class SkippedFile(_Model):
    path: str
    reason: str


class RemovedDocument(_Model):
    """A document the last ``kg extract`` dropped, and why (listed before it happened)."""

    path: str
    source: str = ""
    reason: str


class LLMUsage(_Model):
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0

    def add(self, other: LLMUsage) -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class LLMCoverage(BaseModel):
    """How much of the corpus the LLM tier has covered (for ``kg status`` and the UI)."""

    needed: int = 0  # chunks that need a call (candidates to verify or a summary to write)
    done: int = 0  # of those, answered (this run or an earlier one)
    pairs_verified: int = 0
    pairs_skipped_sure: int = 0  # trained relations confident enough to skip the LLM
    state: str = "not run"  # complete | partial | not run | off


class Manifest(_Model):
    kg_version: str
    created_at: str
    models: dict[str, str] = Field(default_factory=dict)
    ontology: str = "default"
    ontology_hash: str = ""
    config_hash: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    llm_usage: LLMUsage = Field(default_factory=LLMUsage)
    skipped: list[SkippedFile] = Field(default_factory=list)
    seconds: float = 0.0
    sources: list[str] = Field(default_factory=list)  # the paths given to `kg extract`
    entities_per_10kb: float = 0.0  # graph density: entities per 10,000 bytes of document text
    llm_coverage: LLMCoverage = Field(default_factory=LLMCoverage)
    # the relation head learnt from the corpus's structure: labels, held-out precision, edges
    self_train: dict[str, Any] = Field(default_factory=dict)
    source_documents: dict[str, list[str]] = Field(default_factory=dict)  # source -> doc ids
    missing_sources: list[str] = Field(default_factory=list)  # gone; their documents kept
    removed: list[RemovedDocument] = Field(default_factory=list)  # dropped by the last run
    # the language pass (cues, open relations, notes types, coreference): counts and seconds
    language: dict[str, float] = Field(default_factory=dict)


# ---- LLM output schema: one call per chunk does the map summary and the extraction ----

MAX_ENTITIES_PER_CHUNK = 20
MAX_RELATIONS_PER_CHUNK = 15


class ExtractedEntity(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    type: str
    description: str = Field(default="", max_length=300)


class ExtractedRelation(BaseModel):
    head: str = Field(min_length=1, max_length=120)
    type: str
    tail: str = Field(min_length=1, max_length=120)
    evidence: str = Field(default="", max_length=400)


class ChunkExtraction(BaseModel):
    """What the LLM returns for one chunk (its JSON schema constrains decoding)."""

    summary: str = Field(default="", max_length=1200)
    entities: list[ExtractedEntity] = Field(default_factory=list, max_length=MAX_ENTITIES_PER_CHUNK)
    relations: list[ExtractedRelation] = Field(
        default_factory=list, max_length=MAX_RELATIONS_PER_CHUNK
    )


# ---- LLM tier output: verdicts on the trained tier's candidates, by index, plus the summary ----

MAX_NEW_RELATIONS = 3
MAX_SUMMARY_CHARS = 240


class NewRelation(BaseModel):
    """A relation the trained tier missed, between two listed entities (1-based indices)."""

    h: int = Field(ge=1)
    r: str
    t: int = Field(ge=1)


class ChunkVerdicts(BaseModel):
    """What the LLM returns for one chunk: no names or quotes, only indices into the prompt.

    ``verdicts[i]`` says whether the text states candidate pair P(i+1) as typed; ``new`` adds
    relations of the kinds the trained tier cannot give (a course COVERS a topic, ...).
    Decoding is constrained by a per-chunk narrowing of this schema
    (``pipelines.extraction.verify_prompt.verdict_schema``).
    """

    summary: str = Field(max_length=MAX_SUMMARY_CHARS)
    verdicts: list[bool]
    new: list[NewRelation] = Field(max_length=MAX_NEW_RELATIONS)


# ---- retrieval and answers ----

Mode = Literal["hybrid", "bm25", "vector", "graph", "cypher"]
MODES: tuple[str, ...] = ("hybrid", "bm25", "vector", "graph", "cypher")


class SearchHit(_Model):
    chunk_id: str
    doc_id: str
    path: str = ""
    start: int = 0
    end: int = 0
    text: str = ""
    score: float = 0.0
    scores: dict[str, float] = Field(default_factory=dict)


class Citation(_Model):
    n: int
    chunk_id: str
    doc_id: str
    path: str
    start: int
    end: int
    snippet: str
    text: str = ""
    # how the span was chosen: "model" (the LLM cited it), "overlap" (kg picked the span that
    # shares the answer's terms), "fact" (the sentence stating a graph fact), "extractive"
    selected_by: str = "model"


class GraphFact(_Model):
    """A relation or neighbourhood edge given to the LLM as context."""

    head: str
    type: str
    tail: str
    head_type: str = ""
    tail_type: str = ""
    chunk_ids: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)  # spans in document offsets

    @classmethod
    def of(cls, relation: Relation, head: Entity, tail: Entity, *, evidence: bool = False
           ) -> GraphFact:  # fmt: skip
        """The fact a relation states, named by its two entities (with its spans if asked)."""
        return cls(
            head=head.name,
            type=relation.type,
            tail=tail.name,
            head_type=head.type,
            tail_type=tail.type,
            chunk_ids=sorted({ev.chunk_id for ev in relation.evidence}),
            evidence=list(relation.evidence) if evidence else [],
        )


class Answer(_Model):
    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    facts: list[GraphFact] = Field(default_factory=list)
    mode: str = "hybrid"
    cypher: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    # how the answer was chosen: "candidates" (ranking, no LLM), "llm-choice",
    # "llm-choice+sentence", or a fallback that says why
    selected_by: str = ""
    candidate: str = ""  # the chosen answer candidate's text
    hops: int = 1  # 2: reached through a bridge entity (both hops cited)

    @field_validator("answer")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()


# ---- what the service facade returns (CLI, Gradio app and HTTP API share these) ----


class EntityDetail(_Model):
    entity: Entity
    facts: list[GraphFact] = Field(default_factory=list)
    snippets: list[Citation] = Field(default_factory=list)


class GraphNode(_Model):
    id: str
    label: str
    type: str
    highlighted: bool = False


class GraphEdge(_Model):
    source: str
    target: str
    type: str


class Subgraph(_Model):
    nodes: list[GraphNode] = Field(default_factory=list)
    edges: list[GraphEdge] = Field(default_factory=list)


class CypherTable(_Model):
    query: str
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)


class Status(_Model):
    workspace: str
    manifest: Manifest | None = None
    store: str = ""
    store_counts: dict[str, int] = Field(default_factory=dict)
    store_error: str | None = None
    store_warning: str | None = None  # the store does not hold the workspace (kg load needed)
    llm: str = ""
    llm_error: str | None = None
