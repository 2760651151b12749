"""The GraphStore interface every backend implements, and the errors stores raise.

Two paths into a store: ``run`` (write-capable, used only by the loader with Cypher from
``cypher/``) and ``read`` (user or LLM Cypher: checked by the guard, then executed read-only by
the backend itself, so a guard bug still cannot write).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, Self

from kg.cypher import cypher
from kg.cypher_guard import ensure_read_only
from kg.errors import QueryError as QueryError  # the store errors live in kg.errors
from kg.errors import QueryTimeout as QueryTimeout
from kg.errors import StoreError as StoreError
from kg.errors import StoreUnavailable as StoreUnavailable

NODE_LABELS = ("Document", "Chunk", "Entity", "Summary")
STRUCTURAL_RELS = ("FROM_DOCUMENT", "NEXT_CHUNK", "MENTIONS", "SUMMARIZES")
COUNT_KEYS = (*NODE_LABELS, *STRUCTURAL_RELS, "relations")


def plain(value: Any) -> Any:
    """Backend graph objects as JSON-friendly values, the same shape on every backend.

    Nodes become their properties plus ``_labels``, relationships their properties plus
    ``_type``, paths ``{"nodes": [...], "relationships": [...]}``.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class GraphStore(abc.ABC):
    """A property-graph database holding one kg graph."""

    name: str = "graph"

    # ---- to implement ----

    @abc.abstractmethod
    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Execute write-capable Cypher in one transaction (loader only, never user input)."""

    @abc.abstractmethod
    def _read_only(
        self, query: str, params: dict[str, Any] | None, timeout_ms: int
    ) -> list[dict[str, Any]]:
        """Execute Cypher with the backend's own read-only mode."""

    @abc.abstractmethod
    def explain(self, query: str, params: dict[str, Any] | None = None) -> None:
        """Plan the query without running it; raise StoreError when it is invalid."""

    @abc.abstractmethod
    def apply_schema(self) -> None:
        """Create constraints and indexes (idempotent). Run before loading."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Remove every node and relationship, leaving the schema in place."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def identity(self) -> str:
        """Which database and graph this is (no secrets): the loader's incremental state key."""

    def persist(self) -> None:  # noqa: B027 - optional hook, most stores are durable anyway
        """Make recent writes durable (the embedded FalkorDB snapshots to disk)."""

    def batch_writer(self) -> Any:
        """How the loader sends its write batches (kg.store.bulk); FalkorDB pipelines them."""
        from kg.store.bulk import BatchWriter

        return BatchWriter(self)

    # ---- shared ----

    def read(
        self, query: str, params: dict[str, Any] | None = None, timeout_ms: int = 10_000
    ) -> list[dict[str, Any]]:
        """Run untrusted Cypher: guard first, then the backend's read-only execution."""
        return self._read_only(ensure_read_only(query), params, timeout_ms)

    def counts(self) -> dict[str, int]:
        """Nodes per kg label and relationships per kg type (``relations``: entity–entity)."""
        rows = self._read_only(cypher("stats/counts"), None, 60_000)
        row = rows[0] if rows else {}
        return {key: int(row.get(key) or 0) for key in COUNT_KEYS}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.identity}>"
