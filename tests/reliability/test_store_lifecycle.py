"""The embedded redis-server dies with the kg process that started it, and a stop has a
deadline even when redis cannot save (its folder removed) — issue 25, item 6. Real servers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from kg.config import Settings
from kg.procs import pid_alive
from kg.store import open_store
from kg.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]

OPENER = """
import sys, time
from kg.config import Settings
from kg.store import open_store
from kg.workspace import Workspace
store = open_store(Settings(), Workspace(sys.argv[1]))
store.run("CREATE (:Document {id: 'x'})")
print(store.server.info.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def test_the_store_dies_with_a_killed_kg_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", OPENER, str(tmp_path / "ws")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), proc.stderr.read() if proc.stderr else ""
        redis_pid = int(line)
        assert pid_alive(redis_pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _gone(redis_pid, 10), f"redis-server {redis_pid} outlived its killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stop_has_a_deadline_when_the_store_folder_was_removed(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    store = open_store(Settings(), ws)
    store.run("CREATE (:Document {id: 'y'})")  # unsaved: redis wants to save it on shutdown
    pid = store.server.info.pid  # type: ignore[union-attr]
    shutil.rmtree(ws.root)
    t0 = time.monotonic()
    store.close()
    took = time.monotonic() - t0
    assert _gone(pid, 2), "redis-server survived its stop"
    assert took < 20, took


def test_a_store_that_cannot_start_says_why_once(tmp_path: Path) -> None:
    import pytest

    from kg.store import StoreUnavailable

    ws = Workspace(tmp_path / "ws")
    ws.store_dir.mkdir(parents=True)
    (ws.store_dir / "graph.rdb").write_bytes(b"not an rdb file")
    messages = []
    for _ in range(2):  # the log is appended to: the second start must not repeat the first
        with pytest.raises(StoreUnavailable) as info:
            open_store(Settings(), ws)
        messages.append(str(info.value))
    for text in messages:
        assert "load" in text and "DB" in text and "WARNING" not in text, text
        assert "overcommit" not in text and text.count("Wrong signature") == 1, text
        assert len(text) < 400, text
