"""Cypher files: placeholder safety, browser queries on the real FalkorDB, Neo4j syntax
(checked offline with graphglot)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.config import Settings
from kg.cypher import BrowserQuery, browser_queries, cypher, cypher_dir, names, statements
from kg.ontology import load_ontology
from kg.store import open_store
from kg.store.base import GraphStore
from pipelines.load import load_workspace
from tests.test_load import write_workspace


def test_placeholders_only_take_safe_identifiers() -> None:
    assert ":Entity:__Entity__:Person {" in cypher("upsert/entities", label="Person")
    assert "[r:USES {" in cypher("upsert/relations", rel_type="USES")
    for bad in ("Person) DETACH DELETE (x", "person", "Person`", "", "Pérson", "A B"):
        with pytest.raises(ValueError, match="safe"):
            cypher("upsert/entities", label=bad)
    for bad in ("USES]->() DELETE r //", "uses", "USES-X"):
        with pytest.raises(ValueError, match="safe"):
            cypher("upsert/relations", rel_type=bad)
    with pytest.raises(ValueError, match="needs identifiers"):
        cypher("upsert/entities")
    with pytest.raises(ValueError, match="needs identifiers"):
        cypher("upsert/documents", label="Person")
    with pytest.raises(ValueError, match="bad Cypher file name"):
        cypher("../pyproject")


def test_every_ontology_type_is_a_valid_placeholder() -> None:
    for name in ("default", "scierc"):
        onto = load_ontology(name)
        for t in onto.entity_names:
            cypher("upsert/entities", label=t)
        for r in onto.relation_names:
            cypher("upsert/relations", rel_type=r)


def test_browser_queries_are_documented() -> None:
    queries = browser_queries()
    assert len(queries) >= 10
    assert len({q.name for q in queries}) == len(queries)
    for q in queries:
        assert q.description and not q.query.lstrip().startswith("//")
        for param in q.params:
            assert f"${param}" in q.query, (q.name, param)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    ws = write_workspace(tmp_path_factory.mktemp("cypher") / "ws")
    with open_store(Settings(), ws) as store:
        load_workspace(ws, store, progress=False)
        yield store


@pytest.mark.parametrize("query", browser_queries(), ids=lambda q: q.name)
def test_browser_query_runs_read_only_on_falkordb(loaded: GraphStore, query: BrowserQuery) -> None:
    rows = loaded.read(query.query, query.params)
    assert isinstance(rows, list)


def test_browser_queries_find_what_the_sample_graph_holds(loaded: GraphStore) -> None:
    by_name = {q.name: q for q in browser_queries()}
    top = loaded.read(by_name["top_entities"].query, {"top": 3})
    assert len(top) == 3 and top[0]["entity"] in {"PCA", "Alice"}
    hood = loaded.read(by_name["entity_neighbourhood"].query, {"name": "alice", "top": 10})
    assert {r["n"]["name"] for r in hood} == {"PyTorch", "PCA"}
    assert all(r["e"]["_labels"] == ["Entity", "__Entity__", "Person"] for r in hood)
    paths = loaded.read(
        by_name["paths_between"].query, {"source": "MNIST", "target": "Alice", "top": 1}
    )
    assert paths and paths[0]["hops"] == 2
    about = loaded.read(by_name["document_about"].query, {"doc": "pca", "name": "mnist", "top": 5})
    assert about and all("MNIST" in r["mention"] for r in about)
    evidence = loaded.read(
        by_name["relation_evidence"].query, {"head": "PCA", "tail": "MNIST", "top": 5}
    )
    assert evidence and all(r["relation"] == "APPLIED_TO" for r in evidence)
    assert loaded.read(by_name["orphan_check"].query, {"top": 10}) == []
    types = {r["type"]: r["entities"] for r in loaded.read(by_name["entity_type_counts"].query)}
    assert types["Method"] == 3
    order = loaded.read(by_name["reading_order"].query, {"doc": "ml.md", "top": 100})
    assert [r["chunk"] for r in order] == list(range(len(order))) and len(order) > 2


# ---- Neo4j syntax, offline ----

# graphglot (0.14) has no grammar for these Neo4j 5 statements: they get a shape check instead
GRAPHGLOT_GAPS = ("CREATE FULLTEXT INDEX", "CREATE VECTOR INDEX")
GAP_SHAPE = re.compile(
    r"^CREATE (FULLTEXT INDEX \w+ IF NOT EXISTS FOR \(n:[A-Z]\w*\) ON EACH \[n\.\w+(, n\.\w+)*\]"
    r"|VECTOR INDEX \w+ IF NOT EXISTS FOR \(n:[A-Z]\w*\) ON \(n\.\w+\) OPTIONS \{indexConfig: "
    r"\{`vector\.dimensions`: 384, `vector\.similarity_function`: 'cosine'\}\})$"
)


def neo4j_strings() -> list[tuple[str, str]]:
    out = [(f"schema/neo4j #{i}", s) for i, s in enumerate(statements("schema/neo4j"))]
    folders = ("upsert", "delete", "stats", "admin", "meta", "migrate", "retrieval")
    for name in [n for folder in folders for n in names(folder)]:
        if name.endswith("_falkordb"):
            continue  # FalkorDB-only (vecf32)
        raw = (cypher_dir() / f"{name}.cypher").read_text()
        samples = (("label", "Person"), ("rel_type", "USES"))
        ids = {k: v for k, v in samples if f"{{{{{k}}}}}" in raw}
        out.append((name, cypher(name, **ids)))
    out += [(f"browser/{q.name}", q.query) for q in browser_queries()]
    return out


@pytest.mark.parametrize(("name", "query"), neo4j_strings(), ids=[n for n, _ in neo4j_strings()])
def test_neo4j_cypher_parses(name: str, query: str) -> None:
    from graphglot.dialect import Dialect

    if query.startswith(GRAPHGLOT_GAPS):
        assert GAP_SHAPE.match(query), f"{name}: unexpected index statement {query!r}"
        return
    result = Dialect.get_or_raise("neo4j").validate(query)
    assert result.success, f"{name}: {result.error}"


def test_graphglot_check_can_fail() -> None:
    from graphglot.dialect import Dialect

    assert not Dialect.get_or_raise("neo4j").validate("MATCH (n RETURN n").success


def test_installed_copy_is_configured() -> None:
    """The wheel ships cypher/ as kg/_cypher (pyproject force-include), which cypher_dir finds."""
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"cypher" = "kg/_cypher"' in text
    assert cypher_dir().name == "cypher"
