"""FalkorDB backend: kg's embedded server by default, or any server at ``KG_FALKORDB_URL``."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import redis
from falkordb import Edge, FalkorDB, Node
from falkordb import Path as FPath
from redis.backoff import NoBackoff
from redis.retry import Retry

from kg.cypher import statements
from kg.store.base import (
    COUNT_KEYS,
    NODE_LABELS,
    STRUCTURAL_RELS,
    GraphStore,
    QueryError,
    QueryTimeout,
    StoreError,
    StoreUnavailable,
    plain,
)
from kg.store.embedded import EmbeddedServer

log = logging.getLogger(__name__)

# the client waits this much longer than a read's timeout before giving up on the server
# (FalkorDB's own timeout does not cover parsing: a deeply nested query ran for minutes)
READ_GRACE_S = 1.0


def _value(value: Any) -> Any:
    if isinstance(value, Node):
        return {"_labels": list(value.labels or []), **plain(value.properties)}
    if isinstance(value, Edge):
        return {"_type": value.relation, **plain(value.properties)}
    if isinstance(value, FPath):
        return {
            "nodes": [_value(n) for n in value.nodes()],
            "relationships": [_value(e) for e in value.edges()],
        }
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return plain(value)


def _redact(url: str) -> str:
    """A URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class FalkorDBStore(GraphStore):
    name = "falkordb"

    def __init__(
        self, url: str | None = None, graph: str = "kg", store_dir: Path | None = None
    ) -> None:
        """Connect to ``url``; without one, start (or reuse) the embedded server in store_dir."""
        self._server: EmbeddedServer | None = None
        if url is None:
            if store_dir is None:
                raise StoreUnavailable("embedded FalkorDB needs a workspace (store dir)")
            self._server = EmbeddedServer(store_dir)
            url = self._server.start().url
            self._where = f"embedded:{Path(store_dir).resolve()}"
        else:
            self._where = _redact(url)
        self.graph_name = graph
        self._url = url
        self._readers: dict[float, tuple[FalkorDB, Any]] = {}
        try:
            # a name per store: the embedded server is stopped only when no other is connected
            self._client_name = f"kg-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self._db = FalkorDB.from_url(url, socket_timeout=300, client_name=self._client_name)
            self._db.connection.ping()
        except (redis.RedisError, OSError) as exc:
            self._stop_server()
            raise StoreUnavailable(f"cannot reach FalkorDB at {self._where}: {exc}") from exc
        self._graph = self._db.select_graph(graph)

    @property
    def identity(self) -> str:
        return f"falkordb:{self._where}/{self.graph_name}"

    @property
    def server(self) -> EmbeddedServer | None:
        """The embedded server (None when connected to an external one)."""
        return self._server

    def _reader(self, timeout_ms: int) -> tuple[FalkorDB, Any]:
        """A graph handle whose socket gives up shortly after ``timeout_ms``, without
        redis-py's retries (a retried timeout would run the query again)."""
        seconds = round(timeout_ms / 1000 + READ_GRACE_S, 1)
        found = self._readers.get(seconds)
        if found is None:
            db = FalkorDB.from_url(
                self._url,
                socket_timeout=seconds,
                client_name=self._client_name,
                retry=Retry(NoBackoff(), 0),
            )
            found = self._readers.setdefault(seconds, (db, db.select_graph(self.graph_name)))
        return found

    def _exec(
        self, query: str, params: dict[str, Any] | None, *, read_only: bool, timeout_ms: int | None
    ) -> list[dict[str, Any]]:
        try:
            if read_only:
                _, graph = self._reader(timeout_ms or 10_000)
                result = graph.ro_query(query, params, timeout=timeout_ms)
            else:
                result = self._graph.query(query, params, timeout=timeout_ms)
        except redis.ResponseError as exc:
            if read_only and "empty key" in str(exc):
                return []  # the graph does not exist yet: nothing to read
            text = " ".join(str(exc).split())
            if "timed out" in text.lower():
                raise QueryTimeout(f"the query timed out after {timeout_ms} ms") from exc
            raise QueryError(f"FalkorDB rejected the query: {text}") from exc
        except redis.TimeoutError as exc:
            if not read_only:
                raise  # the loader retries its batches (kg.store.bulk)
            raise QueryTimeout(
                f"the query timed out after {timeout_ms} ms (FalkorDB did not answer in time)"
            ) from exc
        except (redis.ConnectionError, OSError) as exc:
            if not read_only:
                raise
            raise StoreUnavailable(
                f"lost the connection to FalkorDB at {self._where} "
                f"({type(exc).__name__}: {' '.join(str(exc).split())})"
            ) from exc
        columns = [h[1] if isinstance(h, (list, tuple)) else str(h) for h in result.header]
        return [
            {col: _value(val) for col, val in zip(columns, row, strict=False)}
            for row in result.result_set
        ]

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._exec(query, params, read_only=False, timeout_ms=None)

    def _read_only(
        self, query: str, params: dict[str, Any] | None, timeout_ms: int
    ) -> list[dict[str, Any]]:
        return self._exec(query, params, read_only=True, timeout_ms=int(timeout_ms))

    def explain(self, query: str, params: dict[str, Any] | None = None) -> None:
        for attempt in (1, 2):
            try:
                self._graph.explain(query, params)
                return
            except redis.ResponseError as exc:
                if attempt == 1 and "empty key" in str(exc):
                    self.apply_schema()  # EXPLAIN needs the graph to exist; this creates it
                    continue
                raise StoreError(f"invalid Cypher: {exc}") from exc

    def apply_schema(self) -> None:
        for stmt in statements("schema/falkordb"):
            try:
                self._graph.query(stmt)
            except redis.ResponseError as exc:
                if "already indexed" not in str(exc).lower():
                    raise StoreError(f"schema statement failed: {stmt}: {exc}") from exc
        existing = {
            (c.get("label"), tuple(c.get("properties") or ()))
            for c in self._constraints()
            if c.get("type") == "UNIQUE"
        }
        for label in NODE_LABELS:
            if (label, ("id",)) not in existing:
                self._graph.create_node_unique_constraint(label, "id")

    def _constraints(self) -> list[dict[str, Any]]:
        try:
            return list(self._graph.list_constraints())
        except redis.ResponseError:  # the graph does not exist yet
            return []

    def counts(self) -> dict[str, int]:
        """Like GraphStore.counts, from FalkorDB's O(1) label/type counts."""
        values: dict[str, int] = {}
        for stmt in statements("stats/counts_falkordb"):
            for row in self._read_only(stmt, None, 60_000):
                values.update({k: int(v or 0) for k, v in row.items()})
        edges = values.pop("edges", 0)
        values["relations"] = edges - sum(values.get(k, 0) for k in STRUCTURAL_RELS)
        return {key: values.get(key, 0) for key in COUNT_KEYS}

    def batch_writer(self) -> Any:
        """Loader batches pipelined on this connection (kg.store.bulk.FalkorPipeline)."""
        from kg.store.bulk import FalkorPipeline

        graph = self._graph
        return FalkorPipeline(self._db.connection, self.graph_name, graph._build_params_header)

    def persist(self) -> None:
        """Snapshot in the background (BGSAVE) so a later crash keeps this load."""
        with contextlib.suppress(redis.ResponseError):  # a save already in progress
            self._db.connection.bgsave()

    def clear(self) -> None:
        """Drop the graph (data and indexes together, far faster than DELETE) and re-create
        the schema."""
        with contextlib.suppress(redis.ResponseError):
            self._graph.delete()
        self._graph = self._db.select_graph(self.graph_name)
        self.apply_schema()

    def alive(self) -> bool:
        """Whether the server answers a PING now (the facade restarts a dead store)."""
        try:
            db, _ = self._reader(1000)
            return bool(db.connection.ping())
        except (redis.RedisError, OSError):
            return False

    def close(self) -> None:
        dbs = [self._db, *(db for db, _ in self._readers.values())]
        self._readers = {}
        for db in dbs:
            with contextlib.suppress(Exception):
                db.connection.close()
                db.connection.connection_pool.disconnect()  # not closed by the client
        self._stop_server()

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop(client_name=getattr(self, "_client_name", ""))
            self._server = None
