"""The user's own tools on a real kg graph (examples/notes, spaCy only, embedded FalkorDB):
kg's LangChain retriever in an LCEL chain, LangChain's FalkorDB graph, QA chain and vector store
on the loopback port, and the MCP server through the MCP SDK's own client (stdio and HTTP)."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")
pytest.importorskip("langchain_falkordb")

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from tests.real_kg import build_workspace, load_into_store

TOOLS = {"search", "ask", "cypher", "entity", "neighbours"}
PERSON = "Lena Okafor"  # named in examples/notes/day_12 (the course's lecturer)


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run ``fn`` in a thread of its own: a session-scoped Playwright (sync API) fixture keeps an
    event loop running in the main thread, and asyncio.run refuses to start under it."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A workspace extracted from examples/notes and loaded into its embedded FalkorDB."""
    from app.service import KG

    settings = build_workspace(tmp_path_factory.mktemp("integrations"))
    kg = KG(settings, use_llm=False)
    if not load_into_store(kg):
        pytest.skip("no load stage")
    yield kg
    kg.close()


@pytest.fixture(scope="module")
def endpoint(real: Any) -> Any:
    from kg.integrations.falkordb import expose

    return expose(real.store)


# ---------------------------------------------------------------- LangChain retriever


def test_retriever_returns_documents_with_spans_scores_and_facts(real: Any) -> None:
    from kg.integrations.langchain import KGRetriever

    retriever = KGRetriever(settings=real.settings, k=3)
    docs = retriever.invoke(f"What did {PERSON} teach?")
    assert 1 <= len(docs) <= 3
    texts = {d.id: d.text for d in real.workspace.iter("documents")}
    for doc in docs:
        meta = doc.metadata
        span = meta["span"]
        assert texts[meta["doc_id"]][span["start"] : span["end"]] == doc.page_content
        assert meta["document"].endswith(".md")
        assert isinstance(meta["score"], float)
    assert PERSON in docs[0].page_content
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    # every fact given with a chunk is one of the linked entity's relations, evidenced there
    linked = real.retriever.link_entities(f"What did {PERSON} teach?")
    expected = real.retriever.facts([e.id for e in linked], limit=50)
    for doc in docs:
        for fact in doc.metadata["facts"]:
            assert any(
                f.head == fact["head"] and f.tail == fact["tail"] and doc.id in f.chunk_ids
                for f in expected
            )
    assert any(d.metadata["facts"] for d in docs) == any(
        d.id in f.chunk_ids for d in docs for f in expected
    )


def test_retriever_rejects_unknown_mode() -> None:
    from kg.integrations.langchain import KGRetriever

    with pytest.raises(ValueError, match="unknown mode"):
        KGRetriever(mode="telepathy")


class _Prompts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.seen += [m.content for batch in messages for m in batch]


def test_retriever_in_an_lcel_chain_with_a_fake_chat_model(real: Any) -> None:
    from kg.integrations.langchain import KGRetriever

    retriever = KGRetriever(settings=real.settings, mode="bm25", k=2)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from the context.\n{context}"), ("human", "{question}")]
    )
    llm = FakeListChatModel(responses=["Dr. Lena Okafor teaches it."])

    def context(docs: list[Any]) -> str:
        return "\n".join(f"[{d.metadata['document']}] {d.page_content}" for d in docs)

    chain = (
        {"context": retriever | context, "question": RunnablePassthrough()}
        | prompt
        | llm
        | StrOutputParser()
    )
    spy = _Prompts()
    answer = chain.invoke("Who teaches the course?", config={"callbacks": [spy]})
    assert answer == "Dr. Lena Okafor teaches it."
    expected = retriever.invoke("Who teaches the course?")
    assert expected, "bm25 finds the course's chunk"
    system = spy.seen[0]
    for doc in expected:  # the chain's prompt holds exactly what the retriever returned
        assert doc.page_content in system


# ---------------------------------------------------------------- FalkorDB for LangChain


def test_embedded_store_on_a_loopback_port(real: Any, endpoint: Any) -> None:
    import redis

    from kg.integrations.falkordb import expose

    assert endpoint.host == "127.0.0.1" and endpoint.port > 0
    assert redis.Redis(host=endpoint.host, port=endpoint.port).ping()
    assert expose(real.store, endpoint.port) == endpoint  # asking again keeps the port
    state = json.loads((real.workspace.root / "store" / "server.json").read_text())
    assert state["port"] == endpoint.port  # another kg process finds it too
    bound = redis.Redis(host=endpoint.host, port=endpoint.port).config_get("bind")["bind"]
    assert bound == "127.0.0.1"


def test_kg_store_serve_prints_the_port_and_stops_on_ctrl_c(
    real: Any, endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kg store serve` in a second process: the server is already on a port, so it says
    that port (asking for another is refused: it would cut off this process's clients)."""
    import signal
    import subprocess

    import redis

    from kg.store.base import StoreUnavailable

    kg_bin = Path(sys.executable).with_name("kg")
    if not kg_bin.exists():
        pytest.skip("the kg console script is not installed next to this Python")
    env = {**os.environ, "KG_GRAPH": real.settings.graph_name}
    proc = subprocess.Popen(
        [str(kg_bin), "store", "serve", "-w", str(real.workspace.root), "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"redis://127.0.0.1:{endpoint.port}" in line and endpoint.graph in line
        assert redis.Redis(host="127.0.0.1", port=endpoint.port).ping()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert real.store.alive()  # it let go of the server this process started
    from app.cli_integrations import expose_store

    expose_store(real, 0)  # what `kg serve --store-port` does once the app is built
    assert f"redis://127.0.0.1:{endpoint.port}" in capsys.readouterr().out
    with pytest.raises(StoreUnavailable, match="already listens"):
        real.store.server.expose(endpoint.port + 1)


@pytest.mark.parametrize("package", ["langchain_falkordb", "langchain_community.graphs"])
def test_langchain_falkordbgraph_reads_the_schema_and_answers_cypher(
    real: Any, endpoint: Any, package: str
) -> None:
    """LangChain's FalkorDBGraph: the maintained one (langchain-falkordb) and the older one in
    langchain-community, when that is installed."""
    from kg.cypher import cypher

    FalkorDBGraph = pytest.importorskip(package).FalkorDBGraph

    graph = FalkorDBGraph(database=endpoint.graph, host=endpoint.host, port=endpoint.port)
    schema = graph.get_structured_schema
    for label in ("Document", "Chunk", "Entity"):
        assert label in schema["node_props"]
    assert {"id", "name", "type"} <= set(schema["node_props"]["Entity"])
    assert {"start": "Chunk", "type": "MENTIONS", "end": "Entity"} in schema["relationships"]
    rows = graph.query(cypher("integrations/people"))
    names = {r[0] for r in rows}
    expected = {
        e.name for e in real.workspace.iter("entities") if e.type == "Person" and e.mentions
    }
    assert PERSON in names and names == expected


def test_cypher_qa_chain_answers_from_kgs_graph(real: Any, endpoint: Any) -> None:
    """LangChain's Cypher QA chain for FalkorDB (langchain-community's GraphCypherQAChain
    cannot read FalkorDBGraph's schema: its construct_schema expects Neo4j's property lists)."""
    from langchain_falkordb import FalkorDBGraph, FalkorDBQAChain

    from kg.cypher import cypher

    graph = FalkorDBGraph(database=endpoint.graph, host=endpoint.host, port=endpoint.port)
    query = cypher("integrations/people")
    llm = FakeListChatModel(responses=[query, f"{PERSON}."])  # writes the Cypher, then answers
    chain = FalkorDBQAChain.from_llm(
        llm, graph=graph, allow_dangerous_requests=True, return_intermediate_steps=True
    )
    result = chain.invoke({"query": "Which people are in my notes?"})
    assert result["result"] == f"{PERSON}."
    steps = result["intermediate_steps"]
    assert steps[0]["query"].strip() == query.strip()
    assert [PERSON] in [list(row) for row in steps[1]["context"]]


def test_falkordb_vector_store_finds_chunks_by_kgs_embeddings(real: Any, endpoint: Any) -> None:
    """LangChain's FalkorDBVector over the ``embedding`` kg loads on chunks ranks them as kg's
    own vector view does. (The vectors are loaded here through kg's loader when `kg load` did
    not write them already.)"""
    from langchain_falkordb import FalkorDBVector

    from kg.integrations.falkordb import CHUNK_LABEL, EMBEDDING_PROPERTY, TEXT_PROPERTY
    from kg.integrations.langchain import KGEmbeddings

    chunks = real.retriever.chunks
    ensure_embeddings(real)
    store = FalkorDBVector.from_existing_index(
        KGEmbeddings(),
        node_label=CHUNK_LABEL,
        embedding_node_property=EMBEDDING_PROPERTY,
        text_node_property=TEXT_PROPERTY,
        host=endpoint.host,
        port=endpoint.port,
        database=endpoint.graph,
    )
    question = "which clustering algorithm did I run on my running logs?"
    found = store.similarity_search(question, k=3)
    ours = real.search(question, mode="vector", k=3)
    by_text = {c.text: c.id for c in chunks}
    assert [by_text[d.page_content] for d in found] == [h.chunk_id for h in ours]


def ensure_embeddings(real: Any) -> None:
    """Chunk vectors in the store: those `kg load` wrote, else kg's own, through its loader."""
    from kg.cypher import cypher
    from pipelines.load import load_workspace

    if real.store.read(cypher("integrations/embedded_chunks"), {})[0]["n"]:
        return
    vectors = real.retriever.vectors
    embeddings = {c.id: vectors[i].tolist() for i, c in enumerate(real.retriever.chunks)}
    load_workspace(real.workspace, real.store, progress=False, embeddings=embeddings)


# ---------------------------------------------------------------- MCP


async def _exercise(client: Any, real: Any) -> dict[str, Any]:
    """List and call every tool and read the resources; returns what came back."""
    tools = await client.list_tools()
    got: dict[str, Any] = {"tools": {t.name for t in tools.tools}}
    calls = {
        "search": {"query": "K-means clustering", "k": 2},
        "ask": {"question": "Who teaches the course?"},
        "cypher": {"query": "MATCH (e:Entity) RETURN count(e) AS n"},
        "entity": {"name": PERSON},
        "neighbours": {"name": PERSON},
    }
    for name, args in calls.items():
        result = await client.call_tool(name, args)
        assert not result.is_error, (name, result.content)
        got[name] = json.loads(result.content[0].text)
    refused = await client.call_tool("cypher", {"query": "MATCH (n) DETACH DELETE n"})
    got["refused"] = (refused.is_error, refused.content[0].text)
    resources = await client.list_resources()
    got["resources"] = {str(r.uri) for r in resources.resources}
    listing = await client.read_resource("kg://documents")
    got["documents"] = json.loads(listing.contents[0].text)
    first = got["documents"][0]
    text = await client.read_resource(first["uri"])
    got["document_text"] = (first["id"], text.contents[0].text)
    return got


def _check(got: dict[str, Any], real: Any) -> None:
    assert got["tools"] == TOOLS
    hits = got["search"]["hits"]
    assert len(hits) == 2 and "K-means" in hits[0]["text"]
    assert hits == [
        {"chunk_id": h.chunk_id, "start": h.start, "end": h.end}
        | {k: v for k, v in hits[i].items() if k not in {"chunk_id", "start", "end"}}
        for i, h in enumerate(real.search("K-means clustering", k=2))
    ]
    assert got["ask"]["citations"] and got["ask"]["answer"]
    count = sum(1 for _ in real.workspace.iter("entities"))
    assert got["cypher"]["rows"] == [[count]]
    assert got["entity"]["entity"]["name"] == PERSON
    assert got["entity"]["snippets"]
    assert got["neighbours"]["entity"]["name"] == PERSON
    assert got["neighbours"]["nodes"][0]["label"] == PERSON
    assert got["refused"][0] and "read-only" in got["refused"][1]
    docs = {d.id: d for d in real.workspace.iter("documents")}
    assert {d["id"] for d in got["documents"]} == set(docs)
    assert {f"kg://documents/{i}" for i in docs} <= got["resources"]
    doc_id, text = got["document_text"]
    assert text == docs[doc_id].text


def test_mcp_stdio_client_lists_and_calls_every_tool(real: Any) -> None:
    from mcp import Client, StdioServerParameters

    kg_bin = Path(sys.executable).with_name("kg")
    command, args = (
        (str(kg_bin), []) if kg_bin.exists() else (sys.executable, ["-m", "app.cli"])
    )
    params = StdioServerParameters(
        command=command,
        args=[*args, "mcp", "--workspace", str(real.workspace.root), "--no-llm"],
        env={
            **os.environ,
            "KG_GRAPH": real.settings.graph_name,
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        },
    )

    async def run() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=120) as client:
            return await _exercise(client, real)

    _check(_in_thread(asyncio.run, asyncio.wait_for(run(), 240)), real)


def test_mcp_over_http_under_kg_serve(real: Any) -> None:
    import httpx
    import uvicorn
    from mcp import Client

    from app.server import build

    app = build(real.settings, use_llm=False, mount_ui=False, api_key="s3cret")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(url, json={}).status_code == 401  # the API key guards /mcp too

        async def run() -> dict[str, Any]:
            import httpx2

            http = httpx2.AsyncClient(
                headers={"Authorization": "Bearer s3cret"}, timeout=httpx2.Timeout(30, read=300)
            )
            async with http, Client(_http_transport(url, http)) as client:
                return await _exercise(client, real)

        _check(_in_thread(asyncio.run, asyncio.wait_for(run(), 240)), real)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.state.kg.close()


def _http_transport(url: str, http: Any) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(url, http_client=http)


# ---------------------------------------------------------------- the README's examples


def readme_example(name: str) -> str:
    """The python block that follows ``<!-- example: NAME … -->`` in README.md."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- example: {re.escape(name)}\b[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL
    )
    assert found, f"README has no example {name!r}"
    return found.group(1)


def test_readme_langchain_retriever_example_runs(
    real: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(real.workspace.root.parent)  # the example opens ./.kg
    llm = FakeListChatModel(responses=["Dr. Lena Okafor teaches it."])
    exec(readme_example("langchain-retriever"), {"llm": llm})
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "Dr. Lena Okafor teaches it."
    hits = real.search("Who teaches the course?", k=4)
    assert printed[:-1] == [
        f"{h.path} {{'start': {h.start}, 'end': {h.end}}} {round(h.score, 3)}" for h in hits
    ]


def test_readme_mcp_client_example_runs(
    real: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(real.workspace.root.parent)
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    if not (Path(bin_dir) / "kg").exists():
        pytest.skip("the kg console script is not installed next to this Python")
    _in_thread(exec, readme_example("mcp-client"), {"__name__": "readme"})
    tools, found = capsys.readouterr().out.strip().split("\n", 1)
    assert set(ast.literal_eval(tools)) == TOOLS
    hits = json.loads(found)["hits"]
    assert [h["chunk_id"] for h in hits] == [
        h.chunk_id for h in real.search("K-means clustering", k=2)
    ]


def test_readme_falkordb_example_runs(
    real: Any, endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run against this test's store: its port and graph name replace 6379 and "kg"."""
    from kg.cypher import cypher

    ensure_embeddings(real)
    code = readme_example("falkordb")
    assert code.count("port=6379") == 2 and code.count('database="kg"') == 2
    code = code.replace("port=6379", f"port={endpoint.port}")
    code = code.replace('database="kg"', f'database="{endpoint.graph}"')
    llm = FakeListChatModel(responses=[cypher("integrations/people"), f"{PERSON}."])
    exec(code, {"llm": llm})
    lines = capsys.readouterr().out.splitlines()
    assert "'type': 'MENTIONS'" in lines[0]
    assert PERSON in lines[1]
    assert lines[2] == f"{PERSON}."
    ours = real.search("clustering my running logs", mode="vector", k=2)
    assert "\n".join(lines[3:]) == "\n".join(h.text[:80] for h in ours)
