"""Neo4j: offline checks always; the real-server tests run when NEO4J_URI is set
(`NEO4J_AUTH=neo4j/kg-password docker compose up -d`, then NEO4J_URI=bolt://localhost:7687
NEO4J_PASSWORD=kg-password)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from kg.config import Settings
from kg.cypher import browser_queries
from kg.cypher_guard import UnsafeCypherError
from kg.store import StoreUnavailable, open_store
from kg.store.base import GraphStore, StoreError
from kg.store.neo4j import Neo4jStore, parse_version
from pipelines.load import load_workspace
from tests.test_load import DOCS, expected_counts, write_workspace

NEEDS_NEO4J = pytest.mark.skipif(
    not os.environ.get("NEO4J_URI"),
    reason="NEO4J_URI not set (start one with `docker compose up -d`, see compose.yaml)",
)


def test_version_parsing() -> None:
    assert parse_version("5.26.0") == (5, 26)
    assert parse_version("5.18.1-enterprise") == (5, 18)
    assert parse_version("2025.01.0") == (2025, 1)
    assert parse_version("garbage") == (0, 0)


def test_neo4j_store_without_uri_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="NEO4J_URI"):
        open_store(Settings(store="neo4j", neo4j_uri=None))


def test_unreachable_server_message_hides_the_password() -> None:
    settings = Settings(
        store="neo4j", neo4j_uri="bolt://127.0.0.1:9", neo4j_password=SecretStr("s3cret-pw")
    )
    with pytest.raises(StoreUnavailable) as err:
        open_store(settings)
    assert "unreachable" in str(err.value) and "s3cret-pw" not in str(err.value)


# ---- a real server ----


def _settings(**kw: object) -> Settings:
    return Settings.from_env(store="neo4j", **kw)


@pytest.fixture
def neo4j_store(tmp_path: Path) -> Iterator[GraphStore]:
    with open_store(_settings(), tmp_path) as store:
        store.apply_schema()
        store.clear()
        yield store
        store.clear()


@NEEDS_NEO4J
@pytest.mark.neo4j
def test_load_twice_and_incremental_on_neo4j(tmp_path: Path, neo4j_store: GraphStore) -> None:
    assert isinstance(neo4j_store, Neo4jStore) and neo4j_store.name == "neo4j"
    ws = write_workspace(tmp_path / "ws")
    assert load_workspace(ws, neo4j_store, progress=False).written == expected_counts(DOCS)
    assert load_workspace(ws, neo4j_store, progress=False).mode == "unchanged"
    docs = {k: v for k, v in DOCS.items() if k != "notes/kmeans.md"}
    write_workspace(ws.root, docs)
    report = load_workspace(ws, neo4j_store, progress=False)
    assert report.mode == "incremental" and report.written == expected_counts(docs)


@NEEDS_NEO4J
@pytest.mark.neo4j
def test_browser_queries_and_read_only_on_neo4j(tmp_path: Path, neo4j_store: GraphStore) -> None:
    ws = write_workspace(tmp_path / "ws")
    load_workspace(ws, neo4j_store, progress=False)
    for q in browser_queries():
        assert isinstance(neo4j_store.read(q.query, q.params), list), q.name
    before = neo4j_store.counts()
    with pytest.raises(UnsafeCypherError):
        neo4j_store.read("MATCH (n) DETACH DELETE n")
    with pytest.raises(StoreError):  # READ access mode refuses writes even past the guard
        neo4j_store._read_only("CREATE (:Pwned)", None, 10_000)
    assert neo4j_store.counts() == before
    neo4j_store.explain("MATCH (n) RETURN n")
    with pytest.raises(StoreError):
        neo4j_store.explain("MATCH (n RETURN n")


@NEEDS_NEO4J
@pytest.mark.neo4j
def test_wrong_password_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="rejected user") as err:
        open_store(_settings(neo4j_password=SecretStr("definitely-wrong-pw")))
    assert "definitely-wrong-pw" not in str(err.value)
