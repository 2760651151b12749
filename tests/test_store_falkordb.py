"""The embedded FalkorDB server and the FalkorDB store: start, reuse, persistence, shutdown,
errors, result conversion."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kg.config import Settings
from kg.store import StoreUnavailable, open_store
from kg.store.base import COUNT_KEYS, StoreError
from kg.store.embedded import SOCKET_MAX, EmbeddedServer, running_server, socket_path
from kg.store.falkordb import FalkorDBStore
from kg.workspace import Workspace


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_embedded_server_starts_persists_and_stops(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with open_store(Settings(), ws) as store:
        assert isinstance(store, FalkorDBStore) and store.name == "falkordb"
        server = store.server
        assert server is not None and server.owned
        pid = server.info.pid if server.info else -1
        assert _alive(pid)
        assert (ws.store_dir / "falkordb.sock").exists()
        store.apply_schema()
        store.run("CREATE (:Document {id: 'd1', title: 'kept'})")
    assert not _alive(pid) or _is_zombie(pid)
    assert running_server(ws.store_dir) is None
    # the data survived the shutdown
    with open_store(Settings(), ws) as store:
        assert store.read("MATCH (d:Document) RETURN d.title AS t") == [{"t": "kept"}]
        assert store.counts()["Document"] == 1


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return False


def test_second_open_reuses_the_running_server(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with open_store(Settings(), ws) as first:
        with open_store(Settings(), ws) as second:
            assert second.server is not None and not second.server.owned
            assert second.server.info == first.server.info  # type: ignore[union-attr]
            second.run("CREATE (:Document {id: 'x'})")
        # closing the borrower leaves the owner's server running
        assert first.counts()["Document"] == 1


def test_server_outlives_its_starter_while_others_use_it(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    first = open_store(Settings(), ws)
    second = open_store(Settings(), ws)
    assert first.server and first.server.info and second.server and not second.server.owned
    pid = first.server.info.pid
    first.run("CREATE (:Document {id: 'd'})")
    first.close()  # the starter leaves: the server stays for the other store
    assert _alive(pid) and not _is_zombie(pid)
    assert second.counts()["Document"] == 1
    second.close()  # the last one out stops it
    for _ in range(100):
        if not _alive(pid) or _is_zombie(pid):
            break
        time.sleep(0.05)
    assert not _alive(pid) or _is_zombie(pid)
    assert running_server(ws.store_dir) is None


def test_long_workspace_paths_fall_back_to_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = socket_path(deep)
    assert path is not None and len(str(path)) <= SOCKET_MAX
    assert str(path).startswith("/tmp/kg-")
    assert socket_path(deep) == path  # stable, so a second process finds it
    with open_store(Settings(), Workspace(deep)) as store:
        assert store.counts() == dict.fromkeys(COUNT_KEYS, 0)


def test_a_server_that_cannot_start_gives_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kg.store.embedded as embedded

    real_server, _ = embedded._binaries()
    monkeypatch.setattr(
        embedded, "_binaries", lambda: (real_server, tmp_path / "missing-falkordb.so")
    )
    with pytest.raises(StoreUnavailable) as err:
        EmbeddedServer(tmp_path / "store", start_timeout=20).start()
    message = str(err.value)
    assert "failed to start" in message and "\n" not in message
    assert running_server(tmp_path / "store") is None


def test_external_url_is_used_as_is(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "external")
    info = server.start()
    try:
        settings = Settings(falkordb_url=info.url, graph_name="other")
        with open_store(settings, Workspace(tmp_path / "ws")) as store:
            assert store.server is None
            assert store.identity.endswith("/other")
            store.run("CREATE (:Entity {id: 'e'})")
            assert store.counts()["Entity"] == 1
        assert not (tmp_path / "ws" / "store").exists()  # no embedded server was started
    finally:
        server.stop()


def test_unreachable_external_server(tmp_path: Path) -> None:
    settings = Settings(falkordb_url=f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(StoreUnavailable, match="cannot reach FalkorDB"):
        open_store(settings)


def test_results_are_plain_values(tmp_path: Path) -> None:
    with open_store(Settings(), Workspace(tmp_path / "ws")) as store:
        store.run(
            "CREATE (:Entity:Person {id: 'a', name: 'Ann', aliases: ['A']})"
            "-[:KNOWS {since: 2020}]->(:Entity:Person {id: 'b', name: 'Bob'})"
        )
        rows = store.read(
            "MATCH p = (a:Person {id: 'a'})-[r]->(b) RETURN a, r, p, b.name AS name, 1.5 AS x"
        )
        assert rows[0]["a"] == {
            "_labels": ["Entity", "Person"], "id": "a", "name": "Ann", "aliases": ["A"]
        }  # fmt: skip
        assert rows[0]["r"] == {"_type": "KNOWS", "since": 2020}
        assert [n["id"] for n in rows[0]["p"]["nodes"]] == ["a", "b"]
        assert rows[0]["p"]["relationships"][0]["_type"] == "KNOWS"
        assert rows[0]["name"] == "Bob" and rows[0]["x"] == 1.5


def test_explain_and_query_errors(tmp_path: Path) -> None:
    with open_store(Settings(), Workspace(tmp_path / "ws")) as store:
        store.explain("MATCH (n) RETURN n")  # before the graph exists
        with pytest.raises(StoreError, match="invalid Cypher"):
            store.explain("MATCH (n RETURN n")
        store.apply_schema()
        store.apply_schema()  # idempotent
        store.explain("MATCH (n:Entity {id: $id}) RETURN n", {"id": "x"})
        with pytest.raises(StoreError, match="invalid Cypher"):
            store.explain("MATCH (n RETURN n")
        with pytest.raises(StoreError):
            store.run("MATCH (n) RETURN m")
        store.run("CREATE (:Entity {id: 'dup'})")
        with pytest.raises(StoreError):  # the unique constraint on Entity.id holds
            store.run("CREATE (:Entity {id: 'dup'})")


def test_clear_keeps_the_schema(tmp_path: Path) -> None:
    with open_store(Settings(), Workspace(tmp_path / "ws")) as store:
        store.apply_schema()
        store.run("CREATE (:Chunk {id: 'c', text: 'principal components'})")
        store.clear()
        assert store.counts() == dict.fromkeys(COUNT_KEYS, 0)
        store.run("CREATE (:Chunk {id: 'c', text: 'principal components'})")
        hits = store.read(
            "CALL db.idx.fulltext.queryNodes('Chunk', 'principal') YIELD node RETURN node.id AS id"
        )
        assert hits == [{"id": "c"}]


def test_fast_counts_agree_with_the_portable_query(tmp_path: Path) -> None:
    from kg.store.base import GraphStore
    from pipelines.load import load_workspace
    from tests.test_load import write_workspace

    ws = write_workspace(tmp_path / "ws")
    with open_store(Settings(), ws) as store:
        assert store.counts() == dict.fromkeys(COUNT_KEYS, 0)  # no graph yet
        load_workspace(ws, store, progress=False)
        fast = store.counts()
        assert fast == GraphStore.counts(store)  # the portable stats/counts.cypher
        assert fast["relations"] > 0 and fast["MENTIONS"] > 0


def test_read_timeout_is_enforced(tmp_path: Path) -> None:
    with open_store(Settings(), Workspace(tmp_path / "ws")) as store:
        store.run("CREATE (:Document {id: 'd'})")
        slow = "UNWIND range(1, 3000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS n"
        with pytest.raises(StoreError, match="timed out"):
            store.read(slow, timeout_ms=1)
        assert store.read("MATCH (d:Document) RETURN d.id AS id", timeout_ms=5000) == [{"id": "d"}]


def test_processes_opening_one_workspace_at_once_share_one_server(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    script = (
        "import sys, time\n"
        "from kg.config import Settings\n"
        "from kg.store import open_store\n"
        "s = open_store(Settings(), sys.argv[1])\n"
        "print(s.server.info.pid, flush=True)\n"
        "time.sleep(3)\n"
        "s.close()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "ws")],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(pids) == 1, pids
    assert all(p.returncode == 0 for p in procs)
