"""docs/neo4j.md's neo4j-graphrag examples, checked without a Neo4j server: the embedder class
runs (real MiniLM), the query neo4j-graphrag composes from kg's retrieval_query parses as Neo4j
Cypher, and the retrieval_query runs against a real kg graph (embedded FalkorDB). With
NEO4J_URI set, the three retrievers run for real."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.cypher import cypher, strip_comments
from kg.store import open_store
from kg.store.base import GraphStore
from kg.workspace import Workspace
from pipelines.load import load_workspace
from tests.real_kg import build_workspace

DOC = Path(__file__).resolve().parents[1] / "docs" / "neo4j.md"
graphrag = pytest.importorskip("neo4j_graphrag")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def embedder_class() -> type:
    block = next(b for b in python_blocks() if "class KgEmbedder" in b)
    scope: dict[str, object] = {}
    exec(compile(block, str(DOC), "exec"), scope)
    return scope["KgEmbedder"]  # type: ignore[return-value]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    settings = build_workspace(tmp_path_factory.mktemp("notes"))
    ws = Workspace(settings.workspace)
    with open_store(settings, ws) as store:
        load_workspace(ws, store, progress=False)
        yield store


def test_the_documented_embedder_embeds_like_kg() -> None:
    from kg.retrieval.embed import DIM, shared_embedder

    vec = embedder_class()().embed_query("K-means clustering")
    assert len(vec) == DIM and all(isinstance(x, float) for x in vec)
    assert vec == pytest.approx(shared_embedder().embed_query("K-means clustering").tolist())


def test_the_composed_vector_cypher_query_is_neo4j_cypher() -> None:
    from graphglot.dialect import Dialect
    from neo4j_graphrag.neo4j_queries import get_search_query
    from neo4j_graphrag.types import SearchType

    retrieval = strip_comments(cypher("graphrag/vector_cypher_retrieval"))
    assert retrieval.strip() in DOC.read_text(encoding="utf-8")  # the page shows this query
    query, _ = get_search_query(SearchType.VECTOR, retrieval_query=retrieval)
    assert "db.index.vector.queryNodes" in query and retrieval.strip() in query
    # graphglot reads the retrieval part after the CALL neo4j-graphrag puts before it
    tail = "MATCH (node:Chunk) WITH node, 1.0 AS score " + retrieval
    assert Dialect.get_or_raise("neo4j").validate(tail).success


def test_retrieval_query_returns_chunks_with_their_facts(loaded: GraphStore) -> None:
    retrieval = strip_comments(cypher("graphrag/vector_cypher_retrieval"))
    rows = loaded.read("MATCH (node:Chunk) WITH node, 0.5 AS score " + retrieval)
    assert rows and all(r["text"] and r["document"] for r in rows)
    facts = [f for r in rows for f in r["facts"]]
    assert facts and all(len(f) == 3 and all(f) for f in facts)
    relations = loaded.read("MATCH (:Entity)-[r]->(:Entity) RETURN count(r) AS n")[0]["n"]
    assert relations > 0


@pytest.mark.skipif(not os.environ.get("NEO4J_URI"), reason="needs a live Neo4j (NEO4J_URI)")
def test_the_retrievers_against_neo4j(tmp_path: Path) -> None:
    from neo4j import GraphDatabase
    from neo4j_graphrag.retrievers import HybridRetriever, VectorCypherRetriever, VectorRetriever

    from kg.config import Settings

    settings = build_workspace(tmp_path).model_copy(update={"store": "neo4j"})
    settings = Settings.from_env(workspace=settings.workspace, store="neo4j")
    ws = Workspace(settings.workspace)
    with open_store(settings, ws) as store:
        load_workspace(ws, store, progress=False)
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    embedder = embedder_class()()
    with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        vector = VectorRetriever(driver, "kg_chunk_embedding", embedder, return_properties=["text"])
        assert vector.search(query_text="K-means clustering", top_k=3).items
        hybrid = HybridRetriever(driver, "kg_chunk_embedding", "kg_chunk_text", embedder)
        assert hybrid.search(query_text="K-means clustering", top_k=3).items
        graph = VectorCypherRetriever(
            driver, "kg_chunk_embedding", embedder=embedder,
            retrieval_query=strip_comments(cypher("graphrag/vector_cypher_retrieval")),
        )  # fmt: skip
        assert graph.search(query_text="K-means clustering", top_k=3).items
