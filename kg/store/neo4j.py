"""Neo4j backend (official driver). User Cypher runs in READ sessions and read transactions.

A preflight on connect checks the server version (>= 5.18 for vector indexes), the credentials
and write access, and turns failures into one-line messages. The password is never logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import neo4j
from neo4j import GraphDatabase
from neo4j import exceptions as nx
from neo4j.graph import Node, Path, Relationship

from kg.cypher import cypher, statements
from kg.store.base import GraphStore, StoreError, StoreUnavailable, plain

log = logging.getLogger(__name__)

MIN_VERSION = (5, 18)


def _value(value: Any) -> Any:
    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **plain(dict(value))}
    if isinstance(value, Relationship):
        return {"_type": value.type, **plain(dict(value))}
    if isinstance(value, Path):
        return {
            "nodes": [_value(n) for n in value.nodes],
            "relationships": [_value(r) for r in value.relationships],
        }
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):  # neo4j temporal types
        return value.iso_format()
    return plain(value)


def _lists(value: Any) -> Any:
    """Parameters with numpy vectors as lists (the driver packs LIST<FLOAT>, not ndarrays)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lists(v) for v in value]
    return value


def _records(result: Any) -> list[dict[str, Any]]:
    return [{k: _value(v) for k, v in rec.items()} for rec in result]


def parse_version(text: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class Neo4jStore(GraphStore):
    name = "neo4j"

    def __init__(
        self, uri: str, user: str, password: str, database: str = "neo4j", *, preflight: bool = True
    ) -> None:
        self.uri, self.user, self.database = uri, user, database
        try:
            self._driver = GraphDatabase.driver(uri, auth=(user, password))
        except (nx.ConfigurationError, ValueError) as exc:
            raise StoreUnavailable(f"bad Neo4j URI {uri!r}: {exc}") from exc
        if preflight:
            try:
                self.preflight()
            except BaseException:
                self._driver.close()
                raise

    @property
    def identity(self) -> str:
        return f"neo4j:{self.uri}/{self.database}"

    def preflight(self) -> str:
        """Check reachability, auth, version and write access; return the server version."""
        where = f"Neo4j at {self.uri}"
        try:
            self._driver.verify_connectivity()
            rows = self._read_only(cypher("admin/neo4j_version"), None, 10_000)
        except nx.AuthError as exc:
            raise StoreUnavailable(
                f"{where} rejected user {self.user!r} (check NEO4J_USER / NEO4J_PASSWORD)"
            ) from exc
        except (nx.ServiceUnavailable, OSError) as exc:
            raise StoreUnavailable(
                f"{where} is unreachable (is it running? try `docker compose up -d`)"
            ) from exc
        except StoreError as exc:
            raise StoreUnavailable(f"{where}: {exc}") from exc
        version = str(rows[0].get("version") or "0.0") if rows else "0.0"
        if parse_version(version) < MIN_VERSION:
            raise StoreUnavailable(
                f"{where} is version {version}; kg needs >= {MIN_VERSION[0]}.{MIN_VERSION[1]} "
                "(vector indexes)"
            )
        try:
            with self._session() as session:
                tx = session.begin_transaction()
                try:
                    tx.run(cypher("admin/neo4j_write_check")).consume()  # type: ignore[arg-type]
                finally:
                    tx.rollback()  # leaves nothing behind
        except (nx.Forbidden, nx.ForbiddenOnReadOnlyDatabase) as exc:
            raise StoreUnavailable(
                f"{where}: user {self.user!r} cannot write to database {self.database!r}"
            ) from exc
        except nx.ClientError as exc:
            raise StoreUnavailable(f"{where}: database {self.database!r}: {exc.message}") from exc
        return version

    def _session(self, read: bool = False) -> neo4j.Session:
        mode = neo4j.READ_ACCESS if read else neo4j.WRITE_ACCESS
        return self._driver.session(database=self.database, default_access_mode=mode)

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        params = _lists(params or {})

        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return _records(tx.run(query, params))

        try:
            with self._session() as session:
                return session.execute_write(work)
        except (nx.CypherSyntaxError, nx.ConstraintError, nx.CypherTypeError) as exc:
            raise StoreError(f"Neo4j rejected the query: {exc.message}") from exc

    def _read_only(
        self, query: str, params: dict[str, Any] | None, timeout_ms: int
    ) -> list[dict[str, Any]]:
        q = neo4j.Query(query, timeout=timeout_ms / 1000)  # type: ignore[arg-type]

        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return _records(tx.run(q, params or {}))

        try:
            with self._session(read=True) as session:
                return session.execute_read(work)
        except nx.AuthError:
            raise  # the preflight turns it into a clear message
        except (nx.CypherSyntaxError, nx.CypherTypeError, nx.Forbidden) as exc:
            raise StoreError(f"Neo4j rejected the query: {exc.message}") from exc
        except nx.ClientError as exc:
            raise StoreError(f"Neo4j: {exc.message}") from exc

    def explain(self, query: str, params: dict[str, Any] | None = None) -> None:
        try:
            with self._session(read=True) as session:
                session.run(f"EXPLAIN {query}", params or {}).consume()  # type: ignore[arg-type]
        except nx.ClientError as exc:
            raise StoreError(f"invalid Cypher: {exc.message}") from exc

    def apply_schema(self) -> None:
        with self._session() as session:
            for stmt in statements("schema/neo4j"):
                session.run(stmt).consume()  # type: ignore[arg-type]

    def clear(self) -> None:
        """Delete kg's nodes in batches (one transaction each), keeping other data."""
        query = cypher("delete/all_batch")
        while self.run(query, {"batch": 10_000})[0]["deleted"]:
            pass
        self.apply_schema()

    def close(self) -> None:
        self._driver.close()
