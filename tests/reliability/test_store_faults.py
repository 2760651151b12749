"""Store faults: the embedded server killed mid-load, a killed server restarted, a second load
process blocked by the workspace lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.store import StoreUnavailable, open_store
from kg.store.base import GraphStore
from kg.store.falkordb import FalkorDBStore
from kg.workspace import Workspace
from pipelines.load import load_workspace
from tests.synthetic_graph import DOCS, expected_counts, write_workspace

ROOT = Path(__file__).resolve().parents[2]


class KillAfter(GraphStore):
    """The real store, whose redis-server gets SIGKILLed before the n-th write batch."""

    def __init__(self, inner: FalkorDBStore, n: int) -> None:
        self.inner, self.n, self.name, self.calls = inner, n, inner.name, 0

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls += 1
        if self.calls == self.n:
            assert self.inner.server is not None and self.inner.server.info is not None
            os.kill(self.inner.server.info.pid, signal.SIGKILL)
            time.sleep(0.2)
        return self.inner.run(query, params)

    def _read_only(self, query: str, params: Any, timeout_ms: int) -> list[dict[str, Any]]:
        return self.inner._read_only(query, params, timeout_ms)

    def explain(self, query: str, params: Any = None) -> None:
        self.inner.explain(query, params)

    def apply_schema(self) -> None:
        self.inner.apply_schema()

    def clear(self) -> None:
        self.inner.clear()

    def close(self) -> None:
        self.inner.close()

    @property
    def identity(self) -> str:
        return self.inner.identity


@pytest.mark.parametrize("kill_at", [1, 4, 9])
def test_server_killed_mid_load_then_rerun_is_exact(tmp_path: Path, kill_at: int) -> None:
    ws = write_workspace(tmp_path / "ws")
    first = open_store(Settings(), ws)
    assert isinstance(first, FalkorDBStore)
    store = KillAfter(first, kill_at)
    with pytest.raises(StoreUnavailable) as err:
        load_workspace(ws, store, batch_size=3, progress=False)
    message = str(err.value)
    assert "re-run `kg load`" in message and "\n" not in message
    assert not (ws.root / "loaded.json").exists()
    first.close()  # the server is gone; closing must not hang or raise

    with open_store(Settings(), ws) as again:  # a fresh server on the same data directory
        report = load_workspace(ws, again, batch_size=3, progress=False)
        assert report.mode == "full"
        assert report.written == expected_counts(DOCS)
        assert load_workspace(ws, again, progress=False).mode == "unchanged"


def test_killed_server_is_replaced_and_data_survives(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    store = open_store(Settings(), ws)
    assert isinstance(store, FalkorDBStore) and store.server and store.server.info
    load_workspace(ws, store, progress=False)
    time.sleep(1.5)  # appendfsync everysec
    os.kill(store.server.info.pid, signal.SIGKILL)
    store.close()
    with open_store(Settings(), ws) as again:
        assert again.counts() == expected_counts(DOCS)
        assert load_workspace(ws, again, progress=False).mode == "unchanged"


def test_concurrent_load_in_another_process_is_refused(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    script = (
        "import sys\n"
        "from kg.config import Settings\n"
        "from kg.store import open_store\n"
        "from kg.workspace import Workspace, WorkspaceLocked\n"
        "from pipelines.load import load_workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "with open_store(Settings(), ws) as store:\n"
        "    try:\n"
        "        load_workspace(ws, store, progress=False)\n"
        "    except WorkspaceLocked as exc:\n"
        "        print('LOCKED', exc)\n"
        "        sys.exit(3)\n"
    )
    with ws.lock("load"):
        proc = subprocess.run(
            [sys.executable, "-c", script, str(ws.root)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "LOCKED" in proc.stdout and "load already running" in proc.stdout
    with open_store(Settings(), Workspace(ws.root)) as store:
        assert store.counts()["Document"] == 0
        assert load_workspace(ws, store, progress=False).written == expected_counts(DOCS)
