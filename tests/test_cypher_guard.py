"""The read-only guard on its own (no database): what passes, what is rejected and why."""

from __future__ import annotations

import pytest

from kg.cypher import browser_queries
from kg.cypher_guard import UnsafeCypherError, ensure_read_only

LEGIT = [
    "MATCH (n) RETURN n LIMIT 5",
    "match (e:Entity) where e.name = 'create table' return e",
    'MATCH (e:Entity) WHERE e.description CONTAINS "DELETE; DROP" RETURN e.name',
    "MATCH (e) WHERE e.name STARTS WITH 'Set' RETURN e.set, e.merge",
    "OPTIONAL MATCH (a)-[r]->(b) RETURN type(r), count(*)",
    "WITH 1 AS x RETURN x;",
    "UNWIND [1, 2] AS x RETURN x",
    "// a comment that says CREATE\nMATCH (n) RETURN count(n)",
    "MATCH (n) /* delete everything? no */ RETURN n",
    "CALL db.labels() YIELD label RETURN label",
    "CALL db.idx.fulltext.queryNodes('Chunk', 'pca') YIELD node RETURN node.id",
    "CALL db.index.vector.queryNodes('kg_chunk_embedding', 5, $v) YIELD node, score RETURN node",
    "CALL { MATCH (n) RETURN count(n) AS c } RETURN c",
    "MATCH (n:`Entity`) RETURN n.`name`",
    "MATCH (e) WHERE e.name = 'café ünïcode 😀' RETURN e",
    "MATCH (n) RETURN n.name AS `create`",
    "MATCH (n) WHERE n.name = $create RETURN n",
    "EXPLAIN MATCH (n) RETURN n",
    r"MATCH (n) WHERE n.t = 'it\'s a \\ test' RETURN n",
    "MATCH p = (start:Entity)-[*1..2]-(stop:Entity) RETURN p, start.name, stop.name",
]


@pytest.mark.parametrize("query", LEGIT)
def test_read_queries_pass(query: str) -> None:
    assert ensure_read_only(query) == query.strip().rstrip(";").rstrip()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("CREATE (n:X)", "start with"),
        ("MATCH (n) SET n.x = 1", "SET"),
        ("match (n) detach delete n", "DELETE|DETACH"),
        ("MATCH (n) CR/**/EATE (m)", "CREATE"),
        ("MATCH (n) WITH n/**/CREATE (m) RETURN m", "CREATE"),
        ("MATCH (n) RETURN n; MATCH (m) DELETE m", "one statement"),
        ("MATCH (n) RETURN n; MATCH (m) RETURN m", "one statement"),
        ("MATCH (n) ＣＲＥＡＴＥ (m)", "non-ASCII"),
        ("MATCH (n) CRE\u200bATE (m)", "non-ASCII"),
        ("MATCH (n) RETURN n\u2028", "non-ASCII"),
        ("CALL apoc.cypher.runWrite('CREATE (n)', {})", "allow-list|apoc"),
        ("RETURN apoc.create.uuid()", "apoc"),
        ("CALL dbms.security.createUser('x', 'y', false)", "allow-list|dbms"),
        ("CALL db.idx.fulltext.createNodeIndex('Chunk', 'text')", "allow-list"),
        ("CALL `db`.`labels`()", "CALL must name"),
        ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", "start with"),
        ("WITH 1 AS x LOAD CSV FROM 'http://x' AS l RETURN l", "LOAD|CSV"),
        ("USING PERIODIC COMMIT MATCH (n) RETURN n", "start with"),
        ("MATCH (n) CALL { WITH n RETURN n } IN TRANSACTIONS RETURN n", "TRANSACTIONS"),
        ("MATCH (n) FOREACH (x IN [1] | SET n.y = x)", "FOREACH|SET"),
        ("MATCH (n) RETURN 'unterminated", "unterminated"),
        ("MATCH (n) /* unterminated RETURN n", "unterminated"),
        ("MATCH (n:`a``b`) RETURN n", "doubled"),
        ("SHOW DATABASES", "start with"),
        ("START DATABASE neo4j", "start with"),
        ("TERMINATE TRANSACTIONS 'neo4j-transaction-1'", "start with"),
        ("MATCH (n) USE other MATCH (m) RETURN m", "USE"),
        ("", "empty"),
        ("MATCH (n) RETURN n\x00", "NUL"),
        ("x" * 30_000, "longer"),
    ],
)
def test_writes_and_admin_are_rejected(query: str, reason: str) -> None:
    with pytest.raises(UnsafeCypherError, match=reason):
        ensure_read_only(query)


def test_error_is_a_value_error() -> None:
    assert issubclass(UnsafeCypherError, ValueError)


def test_browser_queries_pass_the_guard() -> None:
    for q in browser_queries():
        ensure_read_only(q.query)


@pytest.mark.parametrize(
    "query",
    [
        "MATCH (n) RETURN n.name AS create",
        "MATCH (n) RETURN n.name AS delete, n.type AS Set",
        "UNWIND [1, 2] AS merge RETURN 1",
        "MATCH p = (n)-->() RETURN [x IN collect(p) | head(nodes(x))] AS p",
        "MATCH (n:S) WITH n, size([(n)-->() | 1]) AS deg RETURN percentileDisc(0.9, deg)",
        "MATCH (n:A) RETURN count([p = (n)-[:HAS]->() | p]) AS c",
        "MATCH (n) WHERE NOT n.a AND NOT n.b AND NOT n.c AND NOT n.d RETURN n",
        "RETURN [[1, [2, [3, [4]]]], {a: {b: {c: [1]}}}] AS nested",
        "MATCH (a)-[:R]->(b)<-[:S]-(c)--(d) RETURN a, b, c, d",
    ],
)
def test_harmless_shapes_pass(query: str) -> None:
    assert ensure_read_only(query) == query


def _nested(depth: int, open_: str, close: str) -> str:
    return "RETURN " + open_ * depth + "1" + close * depth


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        # the openCypher TCK's nesting shapes: parse time doubles with every level
        (_nested(40, "[", "]"), "nested"),
        (_nested(22, "{a: ", "}"), "nested"),
        (_nested(20, "(", ")"), "nested"),
        ("RETURN " + "NOT " * 30 + "true", "nested"),
        ("RETURN " + "- " * 30 + "1", "nested"),
        ("RETURN " + "NOT (" * 8 + "true" + ")" * 8, "nested"),
        # an aggregate in a list comprehension's body makes FalkorDB abort (server dies)
        ("MATCH (n) RETURN [x IN [1, 2, 3, 4, 5] | count(*)]", "aggregate"),
        ("WITH [1, 2] AS l RETURN [x IN l | count(x)]", "aggregate"),
        ("UNWIND [1, 2] AS y RETURN [x IN [1] | collect(y)]", "aggregate"),
        ("RETURN [x IN [1] | [z IN [2] | max(z)]]", "aggregate"),
        ("RETURN [x IN [1, 2] WHERE Sum (x) > 0 | x]", "aggregate"),
        ("MATCH (n) RETURN [(n)-->() | count(*)]", "aggregate"),
    ],
)
def test_store_killing_shapes_are_refused(query: str, reason: str) -> None:
    with pytest.raises(UnsafeCypherError, match=reason):
        ensure_read_only(query)
