"""Bring a store written by kg's earlier schema to neo4j-graphrag's lexical graph, in place.

Before: ``(:Document)-[:HAS_CHUNK]->(:Chunk)``, ``(:Chunk)-[:NEXT]->(:Chunk)``, entities only
``:Entity:<Type>``. Now: ``(:Chunk)-[:FROM_DOCUMENT]->(:Document)``, ``NEXT_CHUNK``, entities
also ``:__Entity__``. The edges are rewritten in batches (``cypher/migrate/*``), so a large graph
never needs one huge transaction and the counts stay the same: the next load can still be
incremental (``upgrade_state`` renames the keys of the last load's record to match).
"""

from __future__ import annotations

from typing import Any

from kg.cypher import cypher
from kg.store.base import GraphStore

BATCH = 10_000
RENAMED = {"HAS_CHUNK": "FROM_DOCUMENT", "NEXT": "NEXT_CHUNK"}
STEPS = {
    "has_chunk": "migrate/has_chunk",
    "next_edges": "migrate/next",
    "unlabelled": "migrate/entity_label",
}


def legacy_counts(store: GraphStore) -> dict[str, int]:
    """What is still in the old schema: HAS_CHUNK and NEXT edges, entities without __Entity__."""
    # read-only: a store lost here is StoreUnavailable (restarted by the facade), not a raw
    # connection error
    rows = store._read_only(cypher("migrate/legacy_counts"), None, 60_000)
    row = rows[0] if rows else {}
    return {k: int(row.get(k) or 0) for k in STEPS}


def migrate_store(store: GraphStore) -> dict[str, int]:
    """Rewrite every old-schema edge and label; returns how many of each were migrated."""
    done = {k: 0 for k in STEPS}
    todo = legacy_counts(store)
    for key, name in STEPS.items():
        if not todo[key]:
            continue
        query = cypher(name)
        while True:
            rows = store.run(query, {"batch": BATCH})
            n = int(rows[0]["migrated"]) if rows else 0
            if not n:
                break
            done[key] += n
    return done


def upgrade_state(state: Any) -> Any:
    """The last load's record (loaded.json v3) with the counts under the new relationship names."""
    if not isinstance(state, dict) or state.get("version") != 3:
        return state
    counts = state.get("counts")
    if isinstance(counts, dict):
        state["counts"] = {RENAMED.get(k, k): v for k, v in counts.items()}
    state["version"] = 4
    return state
