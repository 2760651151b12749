"""Stopping `kg serve` with SIGTERM or Ctrl-C (SIGINT) at any moment stops what it started.

Real subprocesses: `kg serve --no-llm` over a small workspace; the embedded FalkorDB it starts
(its redis-server, in a session of its own so a terminal's Ctrl-C does not reach it) must be
gone once kg exits, and kg must exit 0 on SIGTERM, 130 on SIGINT, never abort.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kg.procs import pid_alive

KG = str(Path(sys.executable).parent / "kg")
EXPECTED = {signal.SIGTERM: 0, signal.SIGINT: 130}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.real_kg import build_workspace

    return build_workspace(tmp_path_factory.mktemp("signals")).workspace


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store_pids(workspace: Path) -> set[int]:
    """Every live process that serves this workspace's store (redis-server --dir <store>)."""
    store = str((workspace / "store").resolve())
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if store.encode() in args and pid_alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def _recorded_store_pid(workspace: Path) -> int | None:
    try:
        return int(json.loads((workspace / "store" / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture
def serve(workspace: Path) -> Iterator[callable]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        proc = subprocess.Popen(
            [KG, "serve", "--no-llm", "--port", str(port), "-w", str(workspace)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in _store_pids(workspace):  # never leave one behind for the next test
        os.kill(pid, signal.SIGKILL)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/readyz", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("kg serve did not become ready")


def _wait_handling_sigterm(proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until the process catches SIGTERM (the SigCgt mask in /proc): Python itself only
    catches SIGINT, so this is the moment `kg serve` took charge of stopping."""
    deadline = time.monotonic() + seconds
    bit = 1 << (signal.SIGTERM - 1)
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        with contextlib.suppress(OSError, StopIteration, ValueError):
            status = Path(f"/proc/{proc.pid}/status").read_text()
            caught = next(ln for ln in status.splitlines() if ln.startswith("SigCgt:"))
            if int(caught.split()[1], 16) & bit:
                return
        time.sleep(0.02)
    raise AssertionError("kg serve never installed its SIGTERM handler")


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"kg serve ignored {sig.name} for 60 s") from None
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_after_start_stops_the_store_it_started(
    serve: callable, workspace: Path, sig: signal.Signals
) -> None:
    proc, url = serve()
    _wait_ready(proc, url)  # /readyz opens the store: kg has started its redis-server
    store_pid = _recorded_store_pid(workspace)
    assert store_pid is not None and pid_alive(store_pid)
    code, err = _stop(proc, sig)
    assert code == EXPECTED[sig], err
    assert "Traceback" not in err and "terminate called" not in err, err
    deadline = time.monotonic() + 10
    while pid_alive(store_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(store_pid), f"redis-server {store_pid} outlived kg serve"
    assert _store_pids(workspace) == set()


@pytest.mark.parametrize("delay", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_starting_exits_cleanly(
    serve: callable, workspace: Path, sig: signal.Signals, delay: float
) -> None:
    proc, _url = serve()
    _wait_handling_sigterm(proc)  # kg (not the bare interpreter) is in charge from here on
    time.sleep(delay)
    code, err = _stop(proc, sig)
    assert code == EXPECTED[sig], err
    assert "Traceback" not in err and "terminate called" not in err, err
    time.sleep(0.5)
    assert _store_pids(workspace) == set()


# ---- issue 25: no traceback whatever the moment, bad values refused before anything starts ----


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0])  # the interpreter's own ~50 ms start is Python's
def test_ctrl_c_in_the_first_second_exits_130_without_a_traceback(
    tmp_path: Path, delay: float
) -> None:
    proc = subprocess.Popen(
        [KG, "serve", "--no-llm", "--port", str(_free_port()), "-w", str(tmp_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(delay)
    code, err = _stop(proc, signal.SIGINT)
    assert code == 130, (code, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_a_bad_port_or_missing_workspace_is_refused_before_the_url(tmp_path: Path) -> None:
    bad = subprocess.run(
        [KG, "serve", "--port", "99999", "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2, bad
    assert "65535" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    assert "http://" not in bad.stdout
    missing = tmp_path / "nonexistent"
    run = subprocess.run(
        [KG, "serve", "--no-llm", "--port", str(_free_port()), "-w", str(missing)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1 and "does not exist" in run.stderr, run
    assert not missing.exists()


def test_sigterm_during_an_answer_gives_the_client_a_clean_reply(workspace: Path) -> None:
    from tests.reliability.test_llm_outage import _free_port as free
    from tests.reliability.test_llm_outage import _spawn_fake_child

    llm_port = free()
    os.environ["KG_FAKE_LLM_DELAY_S"] = "60"
    try:
        llm = _spawn_fake_child(llm_port)
    finally:
        os.environ.pop("KG_FAKE_LLM_DELAY_S", None)
    port = _free_port()
    env = {**os.environ, "KG_LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
           "KG_LLM_MODEL": "fake"}  # fmt: skip
    proc = subprocess.Popen(
        [KG, "serve", "--port", str(port), "-w", str(workspace)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url)
        result: dict[str, object] = {}

        def ask() -> None:
            try:
                resp = httpx.post(f"{url}/v1/ask", json={"question": "What is K-means?"},
                                  timeout=120)  # fmt: skip
                result["status"] = resp.status_code
                result["body"] = resp.text
            except httpx.HTTPError as exc:
                result["error"] = repr(exc)

        import threading

        asker = threading.Thread(target=ask)
        asker.start()
        assert llm.stdout is not None
        assert llm.stdout.readline().startswith("request"), "the answer never reached the LLM"
        code, err = _stop(proc, signal.SIGTERM)
        asker.join(60)
        assert code == 0, err
        assert "Traceback" not in err and "CancelledError" not in err, err
        assert result.get("status") in (200, 503), result
        if result["status"] == 503:
            assert "shutting down" in str(result["body"])
    finally:
        llm.kill()
        llm.wait()
