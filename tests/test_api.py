"""HTTP API over a fake facade: routes, auth, error statuses, streaming, limits."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.api import MAX_BODY_BYTES, MAX_QUERY_CHARS, create_app, parse_auth
from tests.fake_kg import FakeKG


@pytest.fixture
def kg() -> FakeKG:
    return FakeKG()


@pytest.fixture
def client(kg: FakeKG) -> TestClient:
    return TestClient(create_app(kg, api_key=None, mount_ui=False))


def test_search_returns_ranked_hits_with_spans_and_scores(client: TestClient, kg: FakeKG) -> None:
    r = client.post("/v1/search", json={"query": "BERT transformer", "mode": "bm25", "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "bm25"
    hits = body["hits"]
    assert hits and hits[0]["chunk_id"] == "chk_1"
    assert hits[0]["end"] - hits[0]["start"] == len(hits[0]["text"])
    assert hits[0]["scores"]["bm25"] == hits[0]["score"]
    assert kg.calls[-1] == ("search", ("BERT transformer", "bm25", 2))


def test_ask_returns_answer_with_citations_and_passes_history(
    client: TestClient, kg: FakeKG
) -> None:
    r = client.post(
        "/v1/ask",
        json={"question": "who trained GPT-2?", "history": [{"question": "hi", "answer": "hello"}]},
    )
    assert r.status_code == 200
    body = r.json()
    assert "OpenAI" in body["answer"]
    assert body["citations"][0]["path"] == "notes/transformers.md"
    assert "retrieval_s" in body["timings"]
    assert kg.calls[-1][1][3] == [("hi", "hello")]


def test_ask_stream_sends_deltas_then_the_answer(client: TestClient) -> None:
    with client.stream("POST", "/v1/ask/stream", json={"question": "GPT-2 WebText"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [block.split("\n") for block in text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[0] == "retrieval" and names[-1] == "answer" and names.count("delta") >= 3
    deltas = "".join(
        json.loads(lines[1].removeprefix("data: "))["text"]
        for lines, name in zip(events, names, strict=True)
        if name == "delta"
    )
    final = json.loads(events[-1][1].removeprefix("data: "))
    assert deltas.strip() in final["answer"]


def test_entities_search_and_detail(client: TestClient) -> None:
    r = client.get("/v1/entities", params={"q": "bert"})
    assert r.status_code == 200 and [e["id"] for e in r.json()] == ["ent_bert"]
    d = client.get("/v1/entities/ent_bert").json()
    assert d["entity"]["name"] == "BERT" and d["facts"][0]["type"] == "IS_A"
    missing = client.get("/v1/entities/ent_nope")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"


def test_cypher_reads_and_refuses_writes(client: TestClient) -> None:
    ok = client.post("/v1/cypher", json={"query": "MATCH (n) RETURN n.name AS name"})
    assert ok.status_code == 200 and ok.json()["columns"] == ["name", "type"]
    bad = client.post("/v1/cypher", json={"query": "MATCH (n) DETACH DELETE n"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/json")
    assert bad.json()["title"] == "Query refused" and bad.json()["status"] == 400


def test_bad_input_statuses(client: TestClient) -> None:
    blank = client.post("/v1/search", json={"query": "   "})
    assert blank.status_code == 422 and blank.json()["title"] == "Invalid request"
    r = client.post("/v1/search", json={"query": "x", "mode": "nonsense"})
    assert r.status_code == 422 and "mode" in r.json()["detail"]
    assert client.post("/v1/search", json={"query": "x", "k": 0}).status_code == 422
    long = client.post("/v1/search", json={"query": "a" * (MAX_QUERY_CHARS + 1)})
    assert long.status_code == 413
    huge = client.post(
        "/v1/cypher",
        content=b'{"query": "' + b"a" * MAX_BODY_BYTES + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["title"] == "Too large"
    assert client.post("/v1/search", content=b"{not json").status_code == 422


def test_store_down_is_503_problem_not_a_traceback() -> None:
    client = TestClient(create_app(FakeKG(store_down=True), mount_ui=False))
    r = client.post("/v1/cypher", json={"query": "MATCH (n) RETURN n"})
    assert r.status_code == 503
    assert r.json() == {
        "title": "Graph store unavailable",
        "detail": "FalkorDB is not running",
        "status": 503,
    }
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_reports_degraded_llm() -> None:
    client = TestClient(create_app(FakeKG(llm_error="LLM unavailable: no server"), mount_ui=False))
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded" and "no server" in r.json()["checks"]["llm"]
    assert TestClient(create_app(FakeKG(), mount_ui=False)).get("/readyz").json()["status"] == (
        "ready"
    )


def test_readyz_reports_an_unloaded_store_as_degraded() -> None:
    r = TestClient(create_app(FakeKG(store_empty=True), mount_ui=False)).get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded" and "kg load" in r.json()["checks"]["store"]


def test_api_key_is_required_on_v1_only() -> None:
    client = TestClient(create_app(FakeKG(), api_key="s3cret", mount_ui=False))
    body = {"query": "BERT"}
    r = client.post("/v1/search", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/v1/search", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    good = client.post("/v1/search", json=body, headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 200
    assert client.get("/healthz").status_code == 200


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_API_KEY", "from-env")
    client = TestClient(create_app(FakeKG(), mount_ui=False))
    assert client.get("/v1/entities", params={"q": "bert"}).status_code == 401
    ok = client.get(
        "/v1/entities", params={"q": "bert"}, headers={"Authorization": "Bearer from-env"}
    )
    assert ok.status_code == 200


def test_openapi_documents_every_route() -> None:
    spec = TestClient(create_app(FakeKG(), mount_ui=False)).get("/openapi.json").json()
    assert {
        "/v1/search",
        "/v1/ask",
        "/v1/ask/stream",
        "/v1/entities",
        "/v1/entities/{entity_id}",
        "/v1/cypher",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    assert "SearchRequest" in spec["components"]["schemas"]


def test_ui_is_mounted_and_root_redirects() -> None:
    client = TestClient(create_app(FakeKG()))
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and "gradio" in page.text.lower()


def test_parse_auth() -> None:
    assert parse_auth("ann:pw:with:colons") == ("ann", "pw:with:colons")
    assert parse_auth(None) is None
    with pytest.raises(ValueError):
        parse_auth("no-colon")


def test_serve_warns_on_an_exposed_host_and_runs_uvicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    import uvicorn

    from app import server
    from kg.config import Settings

    calls: list[dict] = []

    class FakeServer:  # records what kg would serve instead of binding a port
        def __init__(self, config: uvicorn.Config) -> None:
            self.config, self.started = config, False

        def run(self) -> None:
            c = self.config
            calls.append({"app": c.app, "host": c.host, "port": c.port})
            self.started = True

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    monkeypatch.delenv("KG_AUTH", raising=False)
    monkeypatch.delenv("KG_API_KEY", raising=False)
    settings = Settings(workspace=tmp_path / "ws")
    code = server.serve(
        settings, host="0.0.0.0", port=9999, use_llm=False, share=True, exit_process=False
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "--auth and --api-key" in err and "share links" in err
    assert calls[0]["host"] == "0.0.0.0" and calls[0]["port"] == 9999
    client = TestClient(calls[0]["app"])
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/search", json={"query": "x"}).status_code == 503  # no workspace yet

    monkeypatch.setenv("KG_API_KEY", "k")
    server.serve(settings, auth="ann:pw", use_llm=False, exit_process=False)
    assert "WARNING" not in capsys.readouterr().err
    assert calls[1]["host"] == "127.0.0.1"
    assert TestClient(calls[1]["app"]).post("/v1/search", json={"query": "x"}).status_code == 401


def test_ui_auth_requires_a_login() -> None:
    client = TestClient(create_app(FakeKG(), ui_auth=("ann", "pw")))
    assert client.get("/ui/config").status_code == 401
    assert client.post("/ui/login", data={"username": "ann", "password": "no"}).status_code == 400
    assert client.post("/ui/login", data={"username": "ann", "password": "pw"}).status_code == 200
    assert client.get("/ui/config").status_code == 200


def test_nodelay_protocol_sets_tcp_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn --workers accepts on a protocol-0 socket, where asyncio leaves Nagle on."""
    import socket

    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from app.server import NoDelayHTTPProtocol

    monkeypatch.setattr(AutoHTTPProtocol, "connection_made", lambda self, transport: None)
    with socket.socket(socket.AF_INET) as listener:  # proto 0, like uvicorn's bind_socket
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as _client:
            conn, _ = listener.accept()
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0

                class Transport:
                    def get_extra_info(self, name: str) -> object:
                        return conn if name == "socket" else None

                protocol = NoDelayHTTPProtocol.__new__(NoDelayHTTPProtocol)
                protocol.connection_made(Transport())  # type: ignore[arg-type]
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
