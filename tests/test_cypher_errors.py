"""Bad Cypher over the real facade and embedded FalkorDB: 400 naming the problem, 504 on a
timeout, the store's own message in the chatbot's Cypher tab, and `kg status`'s warning when
the store is behind the workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.service import KG
from kg.config import Settings
from kg.cypher import browser_queries
from pipelines.load import STATE_FILE, load_workspace
from tests.test_load import write_workspace


@pytest.fixture(scope="module")
def kg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KG]:
    ws = write_workspace(tmp_path_factory.mktemp("cypher-errors") / "ws")
    facade = KG(Settings(workspace=ws.root), use_llm=False)
    load_workspace(ws, facade.store, progress=False)
    yield facade
    facade.close()


@pytest.fixture(scope="module")
def client(kg: KG) -> TestClient:
    return TestClient(create_app(kg, api_key=None, mount_ui=False))


def test_bad_queries_are_400_naming_the_problem(client: TestClient) -> None:
    top = next(q for q in browser_queries() if "$top" in q.query)
    cases = {
        top.query: ("Missing parameter", "$top"),
        "MATCH (n) RETURN nosuchfunction(n) AS x": ("Bad query", "nosuchfunction"),
        "MATCH (n RETURN n": ("Bad query", "FalkorDB rejected the query"),
        "MATCH (n) RETURN n LIMIT -1": ("Bad query", "LIMIT"),
    }
    for query, (title, named) in cases.items():
        r = client.post("/v1/cypher", json={"query": query})
        assert r.status_code == 400, (query, r.json())
        assert r.json()["title"] == title and named in r.json()["detail"]
    ok = client.post("/v1/cypher", json={"query": top.query, "params": top.params})
    assert ok.status_code == 200


def test_timeout_is_504(client: TestClient, kg: KG) -> None:
    kg.cypher_timeout_ms = 200
    try:
        r = client.post(
            "/v1/cypher",
            json={"query": "UNWIND range(1, 100000000) AS x RETURN count(x) AS n"},
        )
    finally:
        kg.cypher_timeout_ms = 10_000
    assert r.status_code == 504 and r.json()["title"] == "Query timed out"


def test_ui_cypher_tab_shows_the_store_message(kg: KG) -> None:
    from app.ui import run_cypher

    _, info = run_cypher(kg, "MATCH (n) RETURN nosuchfunction(n) AS x")
    assert "Bad query" in info and "nosuchfunction" in info
    assert "Internal error" not in info


def test_status_warns_when_the_store_is_behind(kg: KG) -> None:
    assert kg.status().store_warning is None
    state = kg.workspace.root / STATE_FILE
    saved = state.read_bytes()
    state.unlink()  # what a load killed half-way leaves
    try:
        warning = kg.status().store_warning
        assert warning and "kg load" in warning
    finally:
        state.write_bytes(saved)


def test_status_warning_reaches_the_cli(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    ws = write_workspace(tmp_path / "ws")  # extracted, never loaded
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "KG_WORKSPACE": str(ws.root), "NO_COLOR": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "kg load" in proc.stderr
