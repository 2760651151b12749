"""Hostile Cypher against the real embedded FalkorDB: nothing gets written, ever.

Every input goes through ``GraphStore.read`` (the path user and LLM Cypher takes). The graph's
counts, indexes and a content checksum must be identical afterwards, and ordinary read queries
must keep working. A second test bypasses the guard to show the store's own read-only mode
(GRAPH.RO_QUERY) stops the writes too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kg.config import Settings
from kg.cypher_guard import UnsafeCypherError
from kg.store import open_store
from kg.store.base import GraphStore, StoreError
from pipelines.load import load_workspace
from tests.test_load import write_workspace

HOSTILE = [
    "CREATE (n:Pwned {x: 1})",
    "MATCH (n) DETACH DELETE n",
    "MATCH (n) DELETE n",
    "MATCH (e:Entity) SET e.name = 'pwned'",
    "MATCH (e:Entity) SET e:Pwned",
    "MATCH (e:Entity) REMOVE e.name",
    "MATCH (e:Entity) REMOVE e:Entity",
    "MERGE (n:Pwned {id: 1}) RETURN n",
    "MATCH (n) WITH n LIMIT 1 CREATE (n)-[:PWNED]->(n)",
    "match (n) detach delete n",
    "MaTcH (n) DeTaCh DeLeTe n",
    "MATCH (n)\n\tDETACH\n\tDELETE n",
    "MATCH (n) CR/**/EATE (:Pwned)",
    "MATCH (n) WITH n/**/DELETE n",
    "MATCH (n) RETURN n // harmless\n; MATCH (m) DELETE m",
    "MATCH (n) RETURN count(n); CREATE (:Pwned)",
    "RETURN 1; DROP INDEX ON :Entity(id)",
    "MATCH (n) ＤＥＬＥＴＥ n",  # fullwidth letters
    "MATCH (n) DEL\u200bETE n",  # zero-width space
    "MATCH (n) DEL\u00adETE n",  # soft hyphen
    "MATCH (n) \u0421REATE (:Pwned)",  # Cyrillic С
    "MATCH (n) RETURN n\u202e",  # right-to-left override
    "FOREACH (x IN range(1, 3) | CREATE (:Pwned))",
    "MATCH (n) FOREACH (x IN [1] | SET n.pwned = x)",
    "CALL db.idx.fulltext.createNodeIndex('Entity', 'description')",
    "CALL db.idx.fulltext.drop('Chunk')",
    "CALL dbms.procedures() YIELD name RETURN name",
    "CALL apoc.cypher.runWrite('CREATE (:Pwned)', {})",
    "RETURN apoc.cypher.doIt('MATCH (n) DETACH DELETE n', {})",
    "CALL apoc . periodic . iterate('MATCH (n) RETURN n', 'DELETE n', {})",
    "LOAD CSV FROM 'file:///etc/passwd' AS line CREATE (:Pwned {l: line})",
    "USING PERIODIC COMMIT 10 LOAD CSV FROM 'file:///x' AS l RETURN l",
    "MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS",
    "CALL { CREATE (:Pwned) } RETURN 1",
    "DROP INDEX ON :Entity(id)",
    "CREATE INDEX FOR (n:Pwned) ON (n.x)",
    "GRAPH.DELETE kg",
    "CYPHER x=1 CREATE (:Pwned)",
    "MATCH (n:`Entity` ) DETACH DELETE n",
    "MATCH (n) WHERE n.name = 'x' OR 1=1 DETACH DELETE n",
    "MATCH (n) RETURN 'a\\\\' DETACH DELETE n //'",  # an escaped backslash ends the string
    "MATCH (n) RETURN 'a'' DETACH DELETE n",
    "MATCH (n:`a``b`) DELETE n",
    "SHOW DATABASES",
    "ALTER USER neo4j SET PASSWORD 'x'",
    "GRANT ALL ON DATABASE * TO PUBLIC",
    "STOP DATABASE neo4j",
    "MATCH (n) RETURN n /* unterminated",
    "\x00MATCH (n) DELETE n",
]

Check = Callable[[list[dict[str, Any]]], bool]
LEGIT: list[tuple[str, Check]] = [
    ("MATCH (e:Entity) RETURN count(e) AS n", lambda rows: rows[0]["n"] > 0),
    (
        "MATCH (e:Entity) WHERE e.name = 'create; delete' RETURN e.name AS n",
        lambda rows: rows == [],
    ),
    (
        "CALL db.idx.fulltext.queryNodes('Entity', 'PCA') YIELD node RETURN node.name AS n",
        lambda rows: [r["n"] for r in rows] == ["PCA"],
    ),
    (
        "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity {name: 'MNIST'}) RETURN count(c) AS n",
        lambda rows: rows[0]["n"] > 0,
    ),
    ("CALL db.labels() YIELD label RETURN label", lambda rows: len(rows) >= 4),
]


def snapshot(store: GraphStore) -> tuple[dict[str, int], list[dict[str, object]], int]:
    indexes = store.read("CALL db.indexes() YIELD label, properties RETURN label, properties")
    props = store.read(
        "MATCH (n) RETURN count(n) AS n, sum(size(keys(n))) AS keys, sum(size(labels(n))) AS labels"
    )
    checksum = hash(repr(props))
    return store.counts(), sorted(indexes, key=repr), checksum


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    ws = write_workspace(tmp_path_factory.mktemp("hostile") / "ws")
    with open_store(Settings(), ws) as s:
        load_workspace(ws, s, progress=False)
        yield s


def test_there_are_enough_hostile_inputs() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_query_changes_nothing(store: GraphStore, query: str) -> None:
    before = snapshot(store)
    with pytest.raises(UnsafeCypherError):
        store.read(query)
    assert snapshot(store) == before
    assert store.read("MATCH (n:Pwned) RETURN count(n) AS n") == [{"n": 0}]


@pytest.mark.parametrize(("query", "check"), LEGIT)
def test_legit_reads_still_work(store: GraphStore, query: str, check: Check) -> None:
    assert check(store.read(query))


WRITES_THE_GUARD_WOULD_STOP = [
    "CREATE (n:Pwned {x: 1})",
    "MATCH (n) DETACH DELETE n",
    "MATCH (e:Entity) SET e.name = 'pwned'",
    "MERGE (n:Pwned {id: 1}) RETURN n",
    "MATCH (e:Entity) REMOVE e.name",
    "MATCH (n) FOREACH (x IN [1] | SET n.pwned = x)",
    "CALL db.idx.fulltext.createNodeIndex('Entity', 'description')",
]


@pytest.mark.parametrize("query", WRITES_THE_GUARD_WOULD_STOP)
def test_store_read_only_mode_is_a_second_wall(store: GraphStore, query: str) -> None:
    before = snapshot(store)
    with pytest.raises(StoreError):
        store._read_only(query, None, 10_000)  # the guard bypassed on purpose
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "query",
    [
        "RETURN any(x IN [1, 2] WHERE count(*) > 0)",
        "MATCH (n) RETURN all(x IN [1] WHERE sum(x) > 0)",
        "RETURN none(x IN [1, 2] WHERE collect(x) = [])",
        "RETURN single(x IN [1, 2] WHERE max(x) = 2)",
        "RETURN reduce(acc = 0, x IN [1, 2] | acc + count(x))",
    ],
)
def test_aggregates_inside_list_predicates_are_refused(query: str) -> None:
    """FalkorDB answers these wrongly (``false``) or crashes; the TCK's reads still pass."""
    from kg.cypher_guard import UnsafeCypherError, ensure_read_only

    with pytest.raises(UnsafeCypherError, match="aggregate first"):
        ensure_read_only(query)
    ensure_read_only("WITH count(*) AS c RETURN any(x IN [1, 2] WHERE x < c)")  # fine
