"""The LLM tier's question for one chunk: verify the trained tier's candidate pairs, by index.

The prompt lists the chunk's entities (E1, E2, ...) and candidate pairs (P1, P2, ...) that the
trained tier already anchored to spans; the model answers with one relation type (or NONE) per
pair, at most a few new pairs between listed entities, and a one-sentence map summary. It never
writes a name, a quote or an offset, so its output is short (output tokens are the cost on a
CPU) and every verdict maps back to spans the trained tier found.

The system part is identical for every chunk of a run, so llama.cpp reuses its KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from kg.models import (
    MAX_NEW_RELATIONS,
    MAX_SUMMARY_CHARS,
    Chunk,
    ChunkVerdicts,
    Entity,
)
from kg.ontology import Ontology
from pipelines.extraction.results import ChunkResult, RelationSpan

VERIFY_VERSION = "verify-v4"  # bump when the prompt changes: cached answers are keyed by it
MAX_ENTITIES = 16
MAX_PAIRS = 8
# trained relations at or above this confidence skip verification. Measured on SciERC dev
# (bench/verify_threshold.py): pairs scored >= 0.9 are right 49 % of the time, those in
# [0.3, 0.9) 22 %, those in [0.1, 0.3) 10 %: the LLM's judgement is worth most below 0.9.
SURE = 0.9
# a chunk with no pair to verify still gets a call for its map summary, unless it is this short
MIN_SUMMARY_CHARS = 200
# the output budget: summary (~50 tokens) + verdicts (~3 a pair) + new pairs (~12 each)
MAX_OUTPUT_TOKENS = 160

EXAMPLE_TYPES = ("USES", "COMPARED_WITH", "COVERS")
EXAMPLE = (
    "Example.\n"
    "Entities:\nE1 Random forest [Method]\nE2 decision trees [Method]\nE3 accuracy [Metric]\n"
    "E4 Intro to ML [Course]\n"
    "Candidates:\nP1 E1 USES E2\nP2 E2 COMPARED_WITH E3\n"
    'Text:\n"""Intro to ML, week 2: a random forest averages many decision trees; we measured '
    'its accuracy."""\n'
    'Answer: {"summary": "Week 2 of Intro to ML: random forests average decision trees.", '
    '"verdicts": [true, false], "new": [{"h": 4, "r": "COVERS", "t": 1}]}'
)


def example(ontology: Ontology) -> str:
    """The worked example, in the ontology's own type names (none for an unrelated ontology)."""
    names = set(relation_names(ontology))
    ok = names.issuperset(EXAMPLE_TYPES) and "COVERS" in new_relation_names(ontology)
    return EXAMPLE if ok else ""


@dataclass
class VerifyTask:
    """One chunk's question: the entities and pairs it lists, in prompt order."""

    chunk: Chunk
    title: str
    entities: list[Entity] = field(default_factory=list)
    pairs: list[RelationSpan] = field(default_factory=list)
    skipped_sure: int = 0

    @property
    def needs_call(self) -> bool:
        return bool(self.pairs) or len(self.chunk.text.strip()) >= MIN_SUMMARY_CHARS


def relation_names(ontology: Ontology) -> list[str]:
    """The ontology's specific relation types (the fallback RELATED_TO is never asked about)."""
    return [r.name for r in ontology.relation_types if r.name != "RELATED_TO"]


def new_relation_names(ontology: Ontology) -> list[str]:
    """The types the LLM may add: those the trained tier cannot give (COVERS, TAUGHT_BY ...).

    Measured on SciERC dev (bench/results/llm_tier.md): relations the 1.5B model added or
    re-typed among the trained tier's own labels were mostly wrong, so it adds only the kinds
    of facts the trained model has no label for.
    """
    from kg.trained.joint import RELATION_LABELS

    trained = {m[0] for label in RELATION_LABELS if (m := ontology.trained_relation_type(label))}
    return [n for n in relation_names(ontology) if n not in trained]


def plan_task(result: ChunkResult, title: str, ontology: Ontology) -> VerifyTask:
    """The entities (first mentioned first) and uncertain pairs of one merged chunk result."""
    chunk = result.chunk
    first: dict[str, int] = {}
    for e in result.entities:
        starts = [m.start for m in e.mentions if m.chunk_id == chunk.id]
        if starts:
            first[e.id] = min(starts)
    fallback = ontology.fallback_entity_type
    # over the cap, typed entities (a course, a person, a method) go before generic concepts
    keep = sorted((e for e in result.entities if e.id in first),
                  key=lambda e: (e.type == fallback, first[e.id]))[:MAX_ENTITIES]  # fmt: skip
    entities = sorted(keep, key=lambda e: first[e.id])
    listed = {e.id for e in entities}
    allowed = set(relation_names(ontology))
    uncertain = [
        rs for rs in result.relations
        if rs.relation.extractor == "trained" and rs.relation.confidence < SURE
    ]  # fmt: skip
    sure = sum(
        1 for rs in result.relations
        if rs.relation.extractor == "trained" and rs.relation.confidence >= SURE
    )  # fmt: skip
    pairs = [
        rs for rs in [*uncertain, *result.candidates]
        if rs.relation.head_id in listed and rs.relation.tail_id in listed
        and rs.relation.type in allowed
    ]  # fmt: skip
    pairs.sort(key=lambda rs: -rs.relation.confidence)
    return VerifyTask(chunk, title, entities, pairs[:MAX_PAIRS], skipped_sure=sure)


def system_prompt(ontology: Ontology) -> str:
    """Static for a run (ontology + rules + example), so the server's prompt cache reuses it."""
    rels = "\n".join(
        f"- {r.name}: {r.description}" for r in ontology.relation_types if r.name != "RELATED_TO"
    )
    adds = new_relation_names(ontology)
    new_rule = (
        f'- "new": at most {MAX_NEW_RELATIONS} relations the text clearly states between listed '
        f"entities, only of the types {', '.join(adds)}, as "
        '{"h": head number, "r": type, "t": tail number}; [] if none.\n'
        if adds else '- "new": always [].\n'
    )
    return (
        "You check a knowledge graph built from notes.\n"
        f"Relation types (read 'head TYPE tail'):\n{rels}\n"
        "You get numbered entities (E1, E2, ...), candidate relations (P1, P2, ...) and a text.\n"
        "Answer with JSON only:\n"
        '- "summary": one short sentence (at most 15 words) on what the text says, naming its '
        "main subject.\n"
        '- "verdicts": one per candidate, in order: true if the text states that relation '
        "(head TYPE tail), false if it does not.\n" + new_rule + "\n" + example(ontology)
    )


def user_prompt(task: VerifyTask) -> str:
    """The chunk's part: its entities, its candidate pairs and its text."""
    index = {e.id: n for n, e in enumerate(task.entities, 1)}
    ents = "\n".join(f"E{n} {e.name} [{e.type}]" for n, e in enumerate(task.entities, 1))
    pairs = "\n".join(
        f"P{n} E{index[rs.relation.head_id]} {rs.relation.type} E{index[rs.relation.tail_id]}"
        for n, rs in enumerate(task.pairs, 1)
    )
    return (
        f"Document: {task.title[:100]}\nEntities:\n{ents or '(none)'}\n"
        f"Candidates:\n{pairs or '(none)'}\n"
        f'Text:\n"""\n{task.chunk.text}\n"""'
    )


def build_messages(task: VerifyTask, ontology: Ontology) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    return [
        SystemMessage(content=system_prompt(ontology)),
        HumanMessage(content=user_prompt(task)),
    ]


def verdict_schema(task: VerifyTask, ontology: Ontology) -> type[BaseModel]:
    """``ChunkVerdicts`` narrowed to this chunk: exactly one verdict per pair, indices in range.

    llama.cpp turns the JSON schema into a grammar, so the model cannot answer with a type
    outside the list it may add, an index past the entities, or a summary longer than the cap.
    """
    adds = tuple(new_relation_names(ontology)) or ("NONE",)
    n = max(1, len(task.entities))
    new = create_model(
        "NewRelation",
        h=(int, Field(ge=1, le=n)),
        r=(Literal[adds], ...),  # type: ignore[valid-type]
        t=(int, Field(ge=1, le=n)),
    )
    max_new = MAX_NEW_RELATIONS if len(task.entities) > 1 and adds != ("NONE",) else 0
    return create_model(
        "ChunkVerdicts",
        summary=(str, Field(max_length=MAX_SUMMARY_CHARS)),
        verdicts=(list[bool], Field(min_length=len(task.pairs), max_length=len(task.pairs))),
        new=(list[new], Field(max_length=max_new)),  # type: ignore[valid-type]
    )


def parse_verdicts(data: Any) -> ChunkVerdicts | None:
    """The general contract (schema-narrowed or not), or None for an unusable answer."""
    if data is None:
        return None
    if isinstance(data, BaseModel):
        data = data.model_dump()
    try:
        return ChunkVerdicts.model_validate(data)
    except ValueError:
        return None
