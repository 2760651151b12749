"""The store-backed retriever against the in-memory one, on a real extract of examples/notes
loaded into the real embedded FalkorDB (real spaCy, trained tier, MiniLM, FalkorDB indexes)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.config import Settings
from kg.retrieval import Retriever
from kg.store import StoreUnavailable, open_store
from kg.store.base import GraphStore
from kg.workspace import Workspace
from pipelines.load import load_workspace
from tests.real_kg import build_workspace

QUESTIONS = [
    "Which algorithm groups points into k clusters?",
    "What did I read about scikit-learn?",
    "How did the clustering project go?",
    "principal component analysis",
    "K-means",
    "What book did I start?",
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, GraphStore]]:
    settings = build_workspace(tmp_path_factory.mktemp("notes"))
    ws = Workspace(settings.workspace)
    with open_store(settings, ws) as store:
        load_workspace(ws, store, progress=False)
        yield ws, store


def memory(ws: Workspace) -> Retriever:
    return Retriever.open(ws, backend="memory")


def test_extract_wrote_vectors_and_load_put_them_in_the_store(
    loaded: tuple[Workspace, GraphStore],
) -> None:
    ws, store = loaded
    n = store.read("MATCH (c:Chunk) WHERE c.embedding IS NOT NULL RETURN count(c) AS n")[0]["n"]
    assert n == len(ws.read("chunks")) > 0
    from kg.retrieval.embed_workspace import read_vectors

    names = read_vectors(ws.root, "entities")  # entity-name vectors: in the workspace
    assert names is not None and len(names) == len(ws.read("entities")) > 0


@pytest.mark.parametrize("mode", ["hybrid", "vector", "graph", "bm25"])
def test_store_backed_and_memory_rank_the_same_chunks(
    loaded: tuple[Workspace, GraphStore], mode: str
) -> None:
    ws, store = loaded
    from_store = Retriever.open(ws, store=store)
    assert from_store.source is not None  # the loaded workspace answers from the store
    cache = memory(ws)
    for q in QUESTIONS:
        a = [h.chunk_id for h in from_store.search(q, mode=mode, k=10)]
        b = [h.chunk_id for h in cache.search(q, mode=mode, k=10)]
        assert a == b, (mode, q)
    assert [c.id for c in from_store.chunks] == [c.id for c in cache.chunks]


def test_linking_and_facts_come_from_the_store(loaded: tuple[Workspace, GraphStore]) -> None:
    ws, store = loaded
    from_store, cache = Retriever.open(ws, store=store), memory(ws)
    for q in QUESTIONS:
        linked = [e.id for e in from_store.link_entities(q)]
        assert linked == [e.id for e in cache.link_entities(q)], q
        got = [f.model_dump() for f in from_store.facts(linked)]
        assert got == [f.model_dump() for f in cache.facts(linked)], q
    assert any(from_store.link_entities(q) for q in QUESTIONS)
    walked = from_store.graph
    walked.scores("K-means clustering")
    assert walked.fetches >= 1  # the walk read its neighbourhood from the store


def test_cache_follows_the_load_version(
    loaded: tuple[Workspace, GraphStore], tmp_path: Path
) -> None:
    ws, store = loaded
    r = Retriever.open(ws, store=store)
    r.version_ttl_s = 0.0  # check the version on every search
    r.search("clusters")
    before = r.load_version
    assert before >= 1
    chunk = ws.read("chunks")[0]
    store.run(
        "MATCH (c:Chunk {id: $id}) SET c.text = 'zyzzyva marker', c.end = c.start + 14",
        {"id": chunk.id},
    )
    assert r.search("zyzzyva", mode="bm25") == []  # the cache is keyed to the load version
    store.run("MATCH (m:KgMeta {id: 'load'}) SET m.version = m.version + 1")
    hits = r.search("zyzzyva", mode="bm25")
    assert [h.chunk_id for h in hits] == [chunk.id] and r.load_version == before + 1
    store.run("MATCH (m:KgMeta {id: 'load'}) SET m.state = 'loading'")  # a load under way
    assert r.load_version == before + 1
    r.search("zyzzyva", mode="bm25")
    assert r.load_version == -(before + 1)  # read, but not kept as that load's caches
    load_workspace(ws, store, rebuild=True, progress=False)  # put the workspace back
    assert r.search("zyzzyva", mode="bm25") == [] and r.load_version == before + 2


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ask_with_neo4j_down_fails_clearly(loaded: tuple[Workspace, GraphStore]) -> None:
    """The issue's reproduction: `kg ask --neo4j --no-llm` at a port where nothing listens used
    to answer from the workspace files with 3 cited sources."""
    from app.service import KG

    ws, _ = loaded
    settings = Settings(
        workspace=ws.root, store="neo4j", neo4j_uri=f"bolt://127.0.0.1:{_dead_port()}"
    )
    kg = KG(settings, use_llm=False)
    try:
        with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1"):
            kg.ask("Which algorithm groups points into k clusters?")
    finally:
        kg.close()


def test_cli_ask_with_neo4j_down_exits_with_one_line(
    loaded: tuple[Workspace, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from app.cli import app

    ws, _ = loaded
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{_dead_port()}")
    result = CliRunner().invoke(
        app, ["ask", "What is K-means?", "--neo4j", "--no-llm", "--workspace", str(ws.root)]
    )
    assert result.exit_code != 0
    assert "Sources" not in result.output and "Traceback" not in result.output
    assert "127.0.0.1" in result.output


def test_concurrent_first_queries_build_each_cache_once(
    loaded: tuple[Workspace, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served requests arrive together on a fresh process: one BM25 build, not one per thread
    (the stemmer is not thread-safe: the serve bench saw IndexError without the lock)."""
    import threading
    import time

    from kg.retrieval.bm25 import BM25Index

    ws, store = loaded
    builds = []
    real = BM25Index.build.__func__  # type: ignore[attr-defined]

    def slow_build(cls, docs):
        builds.append(1)
        time.sleep(0.2)
        return real(cls, docs)

    monkeypatch.setattr(BM25Index, "build", classmethod(slow_build))
    monkeypatch.setattr(BM25Index, "load", classmethod(lambda cls, folder, key: None))
    r = Retriever.open(ws, store=store)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            r.search("K-means clustering", mode="bm25")
        except BaseException as exc:  # collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(builds) == 1
