"""The HTTP API over the REAL facade and a small real workspace (spaCy-only, no LLM),
plus a schemathesis fuzz of every endpoint in its OpenAPI document: no 500s, valid bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from app.api import create_app
from tests.real_kg import build_workspace, load_into_store


@pytest.fixture(scope="module")
def real_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    from app.service import KG

    kg = KG(build_workspace(tmp_path_factory.mktemp("api-real")), use_llm=False)
    try:
        assert load_into_store(kg), "pipelines.load is missing"
        yield create_app(kg, mount_ui=False)
    finally:
        kg.close()


@pytest.fixture(scope="module")
def client(real_app: FastAPI) -> TestClient:
    return TestClient(real_app)


def test_search_hits_point_into_their_documents(client: TestClient, real_app: FastAPI) -> None:
    r = client.post(
        "/v1/search", json={"query": "K-means clustering PCA", "mode": "hybrid", "k": 3}
    )
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits and {"bm25", "vector"} <= set(hits[0]["scores"])
    docs = {d.id: d for d in real_app.state.kg.workspace.iter("documents")}
    for h in hits:
        assert docs[h["doc_id"]].text[h["start"] : h["end"]] == h["text"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_ask_answers_from_retrieval_with_citations(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "Which book explains K-means clustering?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] and body["citations"]
    assert body["citations"][0]["n"] == 1 and body["timings"]["retrieval_s"] >= 0
    with client.stream("POST", "/v1/ask/stream", json={"question": "What is PCA?"}) as s:
        events = "".join(s.iter_text()).strip().split("\n\n")
    final = [e for e in events if e.startswith("event: answer")]
    assert len(final) == 1 and json.loads(final[0].split("data: ", 1)[1])["citations"]


def test_entities_and_detail(client: TestClient) -> None:
    found = client.get("/v1/entities", params={"q": "PCA"}).json()
    pca = next(e for e in found if e["name"] == "PCA")
    detail = client.get(f"/v1/entities/{pca['id']}").json()
    assert detail["entity"]["type"] == pca["type"]
    assert detail["snippets"] and "PCA" in detail["snippets"][0]["text"]
    assert client.get("/v1/entities/ent_0000000000000000").status_code == 404


def test_cypher_reads_the_loaded_graph_and_refuses_writes(client: TestClient) -> None:
    r = client.post(
        "/v1/cypher",
        json={
            "query": "MATCH (d:Document) RETURN d.path AS path ORDER BY path LIMIT $n",
            "params": {"n": 10},
        },
    )
    assert r.status_code == 200, r.text
    table = r.json()
    assert table["columns"] == ["path"] and len(table["rows"]) >= 2
    for write in (
        "CREATE (n:Entity {name: 'x'})",
        "MATCH (n) DETACH DELETE n",
        "MATCH (n) SET n.name = 'x'",
    ):
        bad = client.post("/v1/cypher", json={"query": write})
        assert bad.status_code == 400 and bad.json()["title"] == "Query refused", write
    still = client.post("/v1/cypher", json={"query": "MATCH (n) RETURN count(n) AS n"})
    assert still.json()["rows"][0][0] > 0


def test_readyz_is_ready_without_an_llm(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["store"] == "ok" and r.json()["checks"]["indexes"] == "ok"


def test_document_page_marks_the_cited_span(client: TestClient, real_app: FastAPI) -> None:
    """Where a chat source links to: the whole document, the cited characters in a <mark>."""
    import html

    hit = client.post("/v1/search", json={"query": "K-means", "k": 1}).json()["hits"][0]
    span = {"start": hit["start"], "end": hit["end"]}
    r = client.get(f"/v1/documents/{hit['doc_id']}", params=span)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    marked = r.text.split('<mark id="kg-span">', 1)[1].split("</mark>", 1)[0]
    assert html.unescape(marked) == hit["text"]
    doc = next(d for d in real_app.state.kg.workspace.iter("documents") if d.id == hit["doc_id"])
    assert html.escape(doc.text[: hit["start"]]) in r.text  # the rest of the document is there
    assert "<script" not in r.text
    assert client.get("/v1/documents/doc_nope").status_code == 404


def test_missing_workspace_is_503(tmp_path: Path) -> None:
    from app.service import KG
    from kg.config import Settings

    kg = KG(Settings(workspace=tmp_path / "nothing"), use_llm=False)
    try:
        client = TestClient(create_app(kg, mount_ui=False))
        r = client.post("/v1/search", json={"query": "anything"})
        assert r.status_code == 503 and "kg extract" in r.json()["detail"]
    finally:
        kg.close()


OPERATIONS = [
    ("POST", "/v1/search"),
    ("POST", "/v1/ask"),
    ("POST", "/v1/ask/stream"),
    ("GET", "/v1/entities"),
    ("GET", "/v1/entities/{entity_id}"),
    ("GET", "/v1/documents/{doc_id}"),
    ("POST", "/v1/cypher"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]


@pytest.fixture(scope="module")
def api_schema(real_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", real_app)


def test_fuzz_covers_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    found = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_endpoint(
    api_schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    """Schema-valid and invalid inputs alike: never a 500, and every response matches the schema.

    Invalid bodies must get a 4xx; schemathesis' own check does not count 413 (our answer to an
    over-long string) as a rejection, so that one status check is done here instead."""
    if mode is GenerationMode.NEGATIVE and path in ("/healthz", "/readyz"):
        pytest.skip("no inputs to make invalid")
    operation = api_schema[path][method]
    excluded = [negative_data_rejection]
    if path == "/v1/cypher":  # a schema-valid string is not necessarily valid Cypher: 400 is right
        excluded.append(positive_data_acceptance)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call()
        case.validate_response(response, excluded_checks=excluded)
        # a JSON body that breaks the schema must be refused; query and path values need not
        # be (an integer where a string is expected arrives as a perfectly good string)
        if mode is GenerationMode.NEGATIVE and method == "POST":
            assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])

    fuzz()


def test_ask_stream_with_an_llm_sends_token_deltas(
    real_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LLM path end to end (real retrieval and candidates, a LangChain fake chat model that
    chooses candidate 1): the choice streams as one delta before the cited answer."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    import kg.llm.client
    from app.service import KG

    reply = '{"c": 1, "p": 1, "s": ""}'  # no sentence: the choice stands alone
    fake = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    monkeypatch.setattr(kg.llm.client, "chat_model", lambda *a, **kw: fake)
    with_llm = KG(real_app.state.kg.settings, use_llm=True)
    try:
        client = TestClient(create_app(with_llm, mount_ui=False))
        with client.stream("POST", "/v1/ask/stream", json={"question": "What does PCA find?"}) as r:
            assert r.status_code == 200
            events = "".join(r.iter_text()).strip().split("\n\n")
    finally:
        with_llm.close()
    deltas = [json.loads(e.split("data: ", 1)[1])["text"] for e in events if "event: delta" in e]
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert deltas == [final["candidate"]] and final["selected_by"].startswith("llm-choice")
    assert final["answer"].startswith(final["candidate"] + " — *")  # no sentence: quoted
    numbers = {c["n"] for c in final["citations"]}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", final["answer"])}
    assert cited and cited <= numbers
    assert "PCA" in next(c["text"] for c in final["citations"] if c["n"] in cited)
