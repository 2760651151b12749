"""Queries that kill or stall the real embedded FalkorDB, and a server that heals afterwards.

Store level: a crashing read (bypassing the guard) is one-line StoreUnavailable, a query that
outlives its timeout is QueryTimeout on the client side (FalkorDB's own timeout does not cover
parsing), a bad query is QueryError with the store's message. Facade and API level: after the
FalkorDB process is SIGKILLed the next request restarts it; while it cannot start the API
answers 503 with the reason; an ingest lands in both the workspace and the store, or in neither.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.service import KG
from kg.config import Settings
from kg.cypher_guard import UnsafeCypherError
from kg.store import StoreUnavailable, open_store
from kg.store.base import QueryError, QueryTimeout
from kg.store.falkordb import FalkorDBStore
from kg.workspace import Workspace
from pipelines.load import load_workspace
from tests.test_load import DOCS, write_workspace

CRASH = "MATCH (n) RETURN [x IN [1, 2, 3, 4, 5] | count(*)]"  # aborts FalkorDB (TCK)
SLOW = "RETURN " + "NOT " * 19 + "true"  # seconds of parsing, past any server-side timeout
COUNT_DOCS = "MATCH (d:Document) RETURN count(d) AS n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def store(ws: Workspace) -> Iterator[FalkorDBStore]:
    s = open_store(Settings(), ws)
    assert isinstance(s, FalkorDBStore)
    load_workspace(ws, s, progress=False)
    yield s
    s.close()


def _pid(store: object) -> int:
    assert isinstance(store, FalkorDBStore) and store.server and store.server.info
    return store.server.info.pid


def test_crashing_read_is_one_line_store_unavailable(store: FalkorDBStore) -> None:
    with pytest.raises(UnsafeCypherError):
        store.read(CRASH)  # the guard stops it first
    with pytest.raises(StoreUnavailable) as err:
        store._read_only(CRASH, None, 5000)  # what an unknown crash shape would do
    assert "\n" not in str(err.value) and "FalkorDB" in str(err.value)


def test_timeout_is_enforced_by_the_client(store: FalkorDBStore) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="timed out"):
        store._read_only(SLOW, None, 100)
    assert time.monotonic() - started < 3.0
    assert store.read(COUNT_DOCS) == [{"n": len(DOCS)}]  # the store still answers


def test_bad_query_is_query_error_with_the_store_message(store: FalkorDBStore) -> None:
    with pytest.raises(QueryError, match=r"(?i)unknown function"):
        store.read("RETURN nosuchfunction(1) AS x")


def _kg(ws: Workspace) -> KG:
    return KG(Settings(workspace=ws.root), use_llm=False)


def test_killed_store_is_restarted_on_the_next_request(ws: Workspace) -> None:
    kg = _kg(ws)
    try:
        load_workspace(ws, kg.store, progress=False)
        client = TestClient(_app(kg))
        ok = client.post("/v1/cypher", json={"query": COUNT_DOCS})
        assert ok.status_code == 200 and ok.json()["rows"] == [[len(DOCS)]]
        old = _pid(kg.store)
        os.kill(old, signal.SIGKILL)
        time.sleep(0.3)
        again = client.post("/v1/cypher", json={"query": COUNT_DOCS})
        assert again.status_code == 200, again.json()
        assert again.json()["rows"] == [[len(DOCS)]]  # the snapshot came back with it
        assert _pid(kg.store) != old
    finally:
        kg.close()


def test_store_that_cannot_start_is_503_with_the_reason(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    kg = _kg(ws)
    try:
        load_workspace(ws, kg.store, progress=False)
        client = TestClient(_app(kg))
        os.kill(_pid(kg.store), signal.SIGKILL)
        time.sleep(0.3)
        import kg.store.embedded as embedded

        missing = Path("/nonexistent/redis-server")
        monkeypatch.setattr(embedded, "_binaries", lambda: (missing, missing))
        down = client.post("/v1/cypher", json={"query": COUNT_DOCS})
        assert down.status_code == 503
        assert down.json()["title"] == "Graph store unavailable"
        assert "cannot start FalkorDB" in down.json()["detail"]
        assert client.get("/readyz").status_code == 503
        monkeypatch.undo()
        back = client.post("/v1/cypher", json={"query": COUNT_DOCS})
        assert back.status_code == 200 and back.json()["rows"] == [[len(DOCS)]]
    finally:
        kg.close()


def _app(kg: KG) -> object:
    from app.api import create_app

    return create_app(kg, api_key=None, mount_ui=False)


def _snapshot(ws: Workspace) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in ws.root.iterdir() if p.is_file()}


def test_ingest_with_the_store_down_changes_nothing(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kg = _kg(ws)
    try:
        load_workspace(ws, kg.store, progress=False)
        before = _snapshot(ws)
        os.kill(_pid(kg.store), signal.SIGKILL)
        import kg.store.embedded as embedded

        missing = Path("/nonexistent/redis-server")
        monkeypatch.setattr(embedded, "_binaries", lambda: (missing, missing))
        upload = tmp_path / "new.txt"
        upload.write_text("Bob trains a random forest with scikit-learn.\n", encoding="utf-8")
        with pytest.raises(StoreUnavailable):
            kg.ingest([upload])
        assert _snapshot(ws) == before
        assert not (ws.root / "uploads" / "new.txt").exists()
    finally:
        monkeypatch.undo()
        kg.close()


def test_store_killed_during_ingest_still_ends_in_both(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.load as loader

    kg = _kg(ws)
    real = loader.load_workspace
    calls = []

    def kill_then_load(workspace: Workspace, store: object, **kw: object) -> object:
        calls.append(store)
        if len(calls) == 1:
            os.kill(_pid(store), signal.SIGKILL)
            time.sleep(0.3)
        return real(workspace, store, **kw)  # type: ignore[arg-type]

    try:
        load_workspace(ws, kg.store, progress=False)
        upload = tmp_path / "new.txt"
        upload.write_text("Bob trains a random forest with scikit-learn.\n", encoding="utf-8")
        monkeypatch.setattr(loader, "load_workspace", kill_then_load)
        manifest = kg.ingest([upload])
        monkeypatch.undo()
        assert len(calls) == 2  # the store was restarted and the load redone
        docs = manifest.counts["documents"]
        assert kg.cypher(COUNT_DOCS).rows == [[docs]]
        report = load_workspace(ws, kg.store, progress=False)
        assert report.mode == "unchanged"
    finally:
        kg.close()
