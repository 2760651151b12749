"""Schema-grounded text-to-Cypher: question -> one parameterised, read-only query -> rows.

The LLM only proposes a query (constrained to ``{"cypher", "params"}`` JSON). Nothing it writes
runs before ``kg.cypher_guard.ensure_read_only`` accepts it; the store then plans it with EXPLAIN
and executes it on its read-only path. An invalid query gets one repair round with the
database's error message; a query that could write is refused outright, never repaired.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kg.models import LLMUsage
from kg.ontology import Ontology

PROMPT_FILE = Path(__file__).parent / "prompts" / "text2cypher.yaml"
MAX_ROWS = 200
MAX_TOKENS = 300
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,30}$")

STRUCTURE = """\
Nodes and their properties:
(:Document {id, path, title})
(:Chunk {id, doc_id, index, start, end, text, embedding})
(:Summary {id, doc_id, level, text})
(:Entity {id, name, type, aliases, description}) - every entity is also labelled __Entity__ and
has exactly one type label.
Structural relationships:
(:Chunk)-[:FROM_DOCUMENT]->(:Document), (:Chunk)-[:NEXT_CHUNK]->(:Chunk),
(:Chunk)-[:MENTIONS]->(:Entity), (:Summary)-[:SUMMARIZES]->(:Document)"""


class CypherOutput(BaseModel):
    """What the LLM must return (its JSON schema constrains decoding)."""

    model_config = ConfigDict(extra="forbid")
    cypher: str = Field(min_length=1, max_length=1500)
    params: dict[str, str] = Field(default_factory=dict, max_length=5)


@dataclass
class CypherResult:
    query: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None
    repaired: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    usage: LLMUsage = field(default_factory=LLMUsage)


@lru_cache(maxsize=1)
def _prompts() -> dict[str, Any]:
    return yaml.safe_load(PROMPT_FILE.read_text(encoding="utf-8"))


def schema_text(ontology: Ontology) -> str:
    """The graph model for the prompt: structure, entity type labels, typed relations."""
    types = ", ".join(ontology.entity_names)  # descriptions cost prompt time on a 1.5B model
    rels = []
    for rel in ontology.relation_types:
        head = "/".join(rel.head) or "any"
        tail = "/".join(rel.tail) or "any"
        rels.append(f"{rel.name}: {head} -> {tail}")
    return (
        f"{STRUCTURE}\nEntity type labels: {types}\n"
        "Relationships between entities, as (:Entity)-[:TYPE]->(:Entity) "
        "(properties: confidence, chunk_ids):\n" + "\n".join(rels)
    )


def examples(ontology: Ontology) -> list[dict[str, Any]]:
    known = set(ontology.entity_names) | set(ontology.relation_names)
    return [ex for ex in _prompts()["examples"] if set(ex.get("needs") or []) <= known]


def build_messages(question: str, ontology: Ontology) -> list[tuple[str, str]]:
    prompts = _prompts()
    messages: list[tuple[str, str]] = [
        ("system", prompts["system"].format(schema=schema_text(ontology)))
    ]
    for ex in examples(ontology):
        messages.append(("user", ex["question"]))
        reply = {"cypher": " ".join(ex["cypher"].split()), "params": ex.get("params") or {}}
        messages.append(("assistant", json.dumps(reply)))
    messages.append(("user", question))
    return messages


def text_to_cypher(question: str, ontology: Ontology, store: Any, chat: Any) -> CypherResult:
    """Ask the LLM for a query, guard it, EXPLAIN it (one repair), then run it read-only."""
    from kg.cypher_guard import UnsafeCypherError, ensure_read_only
    from kg.llm.client import invoke_json

    messages = build_messages(question, ontology)
    usage = LLMUsage()
    result = CypherResult(query="")
    for attempt in range(2):
        out = invoke_json(chat, messages, CypherOutput, max_tokens=MAX_TOKENS)
        usage.add(out.usage)
        result = CypherResult(query="", repaired=attempt > 0, usage=usage)
        if out.data is None:
            result.query = out.raw
            result.error = f"the LLM gave no query ({out.error})"
            error = "the reply was not the JSON object asked for"
        else:
            result.query = out.data.cypher.strip()
            result.params = {k: v for k, v in out.data.params.items() if _PARAM_NAME.match(k)}
            try:
                result.query = ensure_read_only(result.query)
            except UnsafeCypherError as exc:
                result.error = f"refused: the generated query could write ({exc})"
                return result  # never repaired into something that runs
            error = _run(store, result)
            if error is None:
                return result
            result.error = error
        if attempt == 0:
            messages = [
                *messages,
                ("assistant", out.raw or result.query),
                ("user", _prompts()["repair"].format(error=error[:500])),
            ]
    return result


def _run(store: Any, result: CypherResult) -> str | None:
    """EXPLAIN then read; fills ``result``; returns the error message on failure."""
    try:
        store.explain(result.query, result.params)
    except Exception as exc:
        return f"invalid Cypher: {exc}"
    try:
        records = store.read(result.query, result.params)
    except Exception as exc:
        return f"query failed: {exc}"
    records = list(records)[:MAX_ROWS]
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    result.columns = columns
    result.rows = [[record.get(c) for c in columns] for record in records]
    return None
