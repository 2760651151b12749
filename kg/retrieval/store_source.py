"""What retrieval reads from the graph store: every query is a file in ``cypher/retrieval/``.

The store is the graph the chatbot answers from. Per question it answers the vector view (its
vector index on ``Chunk.embedding``), the linker's candidates (its full-text index on
``Entity.name``), the walk's neighbourhoods (mentions and relations of the nodes the walk
reaches) and the graph facts. The chunk list and the entities' name table are read once per
load version (``cypher/meta/load_version``) and cached by the retriever.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from kg.cypher import cypher
from kg.models import Chunk, Entity, Mention
from kg.store.base import GraphStore, StoreError, StoreUnavailable

READ_TIMEOUT_MS = 10_000
NAME_CANDIDATES = 5_000  # full-text hits per question, at most
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class StoreSource:
    """Read-only retrieval queries against one store (opened lazily, reopened by the factory)."""

    def __init__(self, store: GraphStore | Callable[[], GraphStore]) -> None:
        self._factory = store if callable(store) and not isinstance(store, GraphStore) else None
        self._store = store if isinstance(store, GraphStore) else None

    @property
    def store(self) -> GraphStore:
        if self._factory is not None:
            return self._factory()
        assert self._store is not None
        return self._store

    @property
    def kind(self) -> str:
        return self.store.name

    def _read(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        store = self.store
        try:
            return store._read_only(cypher(name), params, READ_TIMEOUT_MS)
        except StoreUnavailable:
            raise
        except StoreError:
            raise
        except Exception as exc:  # a driver's connection error: one clear line
            raise StoreUnavailable(f"cannot read the graph store {store.identity}: {exc}") from exc

    # ---- once per load version ----

    def version(self) -> dict[str, Any]:
        rows = self._read("meta/load_version")
        row = rows[0] if rows else {}
        return {"version": int(row.get("version") or 0), "state": row.get("state") or ""}

    def chunks(self) -> tuple[list[Chunk], dict[str, str]]:
        """Every chunk in reading order, and document id -> path."""
        chunks, paths = [], {}
        for r in self._read("retrieval/chunks"):
            chunks.append(
                Chunk(id=r["id"], doc_id=r["doc_id"], index=r["index"], start=r["start"],
                      end=r["end"], text=r["text"])
            )  # fmt: skip
            paths[r["doc_id"]] = r["path"]
        return chunks, paths

    def entities(self) -> list[Entity]:
        """Every entity (by id) with its mentions' spans."""
        out = []
        for r in self._read("retrieval/entities"):
            mentions = [
                Mention(chunk_id=m[0], doc_id=m[1], start=m[2], end=m[3], text=m[4] or "")
                for m in r["mentions"]
                if m[0] is not None
            ]
            out.append(
                Entity(id=r["id"], name=r["name"], type=r["type"], aliases=r["aliases"] or [],
                       description=r["description"] or "", source=r["source"] or "",
                       mentions=mentions)
            )  # fmt: skip
        return out

    # ---- per question ----

    def nearest_chunks(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the ``k`` nearest chunks, nearest first."""
        return self._nearest("chunk", vector, k)

    def nearest_entities(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self._nearest("entity", vector, k)

    def _nearest(self, what: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        kind = self.kind
        rows = self._read(
            f"retrieval/{what}_vectors_{kind}",
            {"k": int(k), "vector": [float(x) for x in np.asarray(vector, dtype=np.float32)]},
        )
        if kind == "neo4j":  # (1 + cosine) / 2
            return [(r["id"], 2.0 * float(r["score"]) - 1.0) for r in rows]
        return [(r["id"], 1.0 - float(r["score"])) for r in rows]  # FalkorDB: cosine distance

    def entities_named(self, text: str) -> list[str]:
        """Ids of the entities whose name shares a word with ``text`` (the full-text index)."""
        from kg.text import STOPWORDS

        # a name made of stop words only is never linked (EntityGraph._stop): every linkable
        # name has a word left here
        words = sorted({w.lower() for w in _TOKEN.findall(text)} - STOPWORDS)
        if not words:
            return []
        kind = self.kind
        query = " OR ".join(words) if kind == "neo4j" else "|".join(words)
        try:
            rows = self._read(
                f"retrieval/entity_names_{kind}", {"q": query, "top": NAME_CANDIDATES}
            )
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            return []  # only stop words (the index refuses an empty query)
        return [r["id"] for r in rows]

    def entity_edges(
        self, ids: Sequence[str]
    ) -> dict[str, tuple[list[tuple[str, int]], list[tuple[str, float]]]]:
        """Per entity id: (mentions as (chunk id, offset in chunk), relations as (other entity
        id, confidence))."""
        out: dict[str, tuple[list[tuple[str, int]], list[tuple[str, float]]]] = {
            i: ([], []) for i in ids
        }
        params = {"ids": list(ids)}
        for r in self._read("retrieval/entity_mentions", params):
            out[r["id"]][0].append((r["chunk_id"], int(r["offset"])))
        for r in self._read("retrieval/entity_relations", params):
            out[r["id"]][1].append((r["other"], float(r["confidence"])))
        return out

    def chunk_edges(self, ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """Per chunk id: the entities it mentions as (entity id, smallest offset in chunk)."""
        out: dict[str, list[tuple[str, int]]] = {i: [] for i in ids}
        for r in self._read("retrieval/chunk_edges", {"ids": list(ids)}):
            out[r["id"]].append((r["entity_id"], int(r["offset"])))
        return out

    def facts(self, ids: Iterable[str], limit: int) -> list[dict[str, Any]]:
        return self._read("retrieval/facts", {"ids": list(ids), "top": int(limit)})
