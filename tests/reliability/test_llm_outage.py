"""The LLM going away: a killed offline server is reaped, reported and restarted; a base URL
that points at nothing is reported; answers in between quote the sources and say so; a server
killed during the LLM tier of `kg extract` loses no answered chunk (issue 25, item 3).

The offline server is stood in for by ``tests.fake_llm_child`` (a real process, killed with a
real SIGKILL); ``test_real_llama_child_killed_is_restarted`` does it with the llama.cpp child.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kg.config import Settings
from kg.llm import runtime

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_fake_child(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_llm_child", "kg.llm.runtime", "_child", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the fake LLM child did not start")


@pytest.fixture(scope="module")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from tests.real_kg import build_workspace

    tmp = tmp_path_factory.mktemp("llm_outage")
    settings = build_workspace(tmp)
    return settings.model_copy(
        update={"cache_dir": tmp / "cache", "llm_model": "fake", "llm_base_url": None}
    )


class FakeRuntime:
    """``runtime.start_server`` replaced by one that starts the fake child; a restart can be
    held back (``hold``) to observe the outage."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.hold = threading.Event()
        self.hold.set()

    def start_server(self, settings: Settings, *, detach: bool = False) -> runtime.ServerState:
        self.hold.wait(60)
        port = _free_port()
        proc = _spawn_fake_child(port)
        self.procs.append(proc)
        runtime._children[proc.pid] = proc  # type: ignore[assignment]
        runtime._reap_when_done(proc)  # type: ignore[arg-type]
        where = os.path.realpath(os.path.abspath(settings.workspace))
        state = runtime.ServerState(proc.pid, port, "fake", os.getpid(), detach, time.time(), where)
        runtime._started.append(state)
        runtime._write_state(settings, state)
        return state


@pytest.fixture
def fake_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRuntime]:
    fake = FakeRuntime()
    monkeypatch.setattr(runtime, "start_server", fake.start_server)
    yield fake
    fake.hold.set()
    for proc in fake.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _kg(settings: Settings) -> object:
    from app.service import KG
    from tests.real_kg import load_into_store

    kg = KG(settings, use_llm=True)
    load_into_store(kg)
    return kg


def test_killed_offline_server_is_reaped_reported_and_restarted(
    base_settings: Settings, fake_runtime: FakeRuntime
) -> None:
    from app.api import readiness
    from app.ui import health_banner

    kg = _kg(base_settings)
    try:
        # (the fake does not stream, so the answer itself falls back; the server is up)
        first = kg.ask("What is K-means clustering?")
        assert not any("quotes the sources" in w for w in first.warnings), first.warnings
        assert kg.chat is not None and kg.status().llm_error is None
        victim = fake_runtime.procs[0]
        fake_runtime.hold.clear()  # the restart waits until we have seen the outage
        os.kill(victim.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{victim.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{victim.pid}").exists(), "the killed server stayed <defunct>"
        status = kg.status()
        assert status.llm_error and status.llm_error.startswith("LLM unavailable:"), status
        assert "-9" in status.llm_error and "restarting" in status.llm_error
        ready = readiness(kg)
        assert ready.status == "degraded" and ready.checks["llm"].startswith("LLM unavailable")
        assert "LLM unavailable" in health_banner(kg)
        during = kg.ask("What is K-means clustering?")
        assert during.answer.strip()
        assert any("LLM unavailable" in w and "quotes the sources" in w for w in during.warnings)
        fake_runtime.hold.set()
        assert kg._llm.wait_restart(60)
        assert kg.status().llm_error is None
        assert len(fake_runtime.procs) == 2 and fake_runtime.procs[1].poll() is None
        after = kg.ask("What is K-means clustering?")
        assert not any("quotes the sources" in w for w in after.warnings), after.warnings
        assert kg.chat is not None
    finally:
        kg.close()


def test_base_url_pointing_at_nothing_is_reported(base_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from app.api import create_app
    from app.ui import health_banner

    nowhere = f"http://127.0.0.1:{_free_port()}/v1"
    kg = _kg(base_settings.model_copy(update={"llm_base_url": nowhere}))
    try:
        client = TestClient(create_app(kg, mount_ui=False))
        body = client.get("/readyz").json()
        assert body["status"] == "degraded", body
        assert body["checks"]["llm"].startswith(f"LLM unavailable: cannot reach {nowhere}"), body
        assert "LLM unavailable" in health_banner(kg)
        answer = client.post("/v1/ask", json={"question": "What is K-means clustering?"}).json()
        assert answer["answer"].strip()
        assert any("quotes the sources" in w for w in answer["warnings"]), answer["warnings"]
    finally:
        kg.close()


def _make_corpus(root: Path) -> Path:
    from tests.reliability.test_crash_resume import make_corpus

    return make_corpus(root)


def _extract(env: dict[str, str], corpus: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "extract", str(corpus), "--llm", "on"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.timeout(1200)
def test_llm_server_killed_mid_extract_keeps_answers_and_the_next_run_continues(
    tmp_path: Path,
) -> None:
    corpus = _make_corpus(tmp_path / "corpus")
    ws = tmp_path / ".kg"
    port = _free_port()
    env = {
        **os.environ,
        "KG_WORKSPACE": str(ws),
        "NO_COLOR": "1",
        "KG_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "KG_LLM_MODEL": "fake",
    }
    server = _spawn_fake_child(port)
    killed_at = 3

    def kill_on_request() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            if line.strip() == f"request {killed_at}":
                os.kill(server.pid, signal.SIGKILL)
                return

    watcher = threading.Thread(target=kill_on_request, daemon=True)
    watcher.start()
    try:
        run = _extract(env, corpus)
    finally:
        server.kill()
        server.wait()
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "LLM tier stopped: LLM unavailable" in run.stderr, run.stderr
    manifest = json.loads((ws / "manifest.json").read_text())
    cov = manifest["llm_coverage"]
    assert killed_at - 1 <= cov["done"] <= killed_at < cov["needed"], cov  # a reply races the kill
    assert manifest["counts"]["documents"] == 5

    server = _spawn_fake_child(port)
    try:
        again = _extract(env, corpus)
        asked = []
        server.kill()
        assert server.stdout is not None
        asked = [ln for ln in server.stdout.read().splitlines() if ln.startswith("request")]
    finally:
        server.kill()
        server.wait()
    assert again.returncode == 0, again.stderr
    cov2 = json.loads((ws / "manifest.json").read_text())["llm_coverage"]
    assert cov2["state"] == "complete" and cov2["done"] == cov["needed"], cov2
    # only what was left was asked (plus the reduce summaries of the documents)
    assert len(asked) - manifest["counts"]["documents"] <= cov["needed"] - cov["done"], asked


@pytest.mark.llm
@pytest.mark.timeout(900)
def test_real_llama_child_killed_is_restarted(base_settings: Settings) -> None:
    """The real xllamacpp child: SIGKILL it, see it reported, reaped and started again."""
    kg = _kg(base_settings.model_copy(update={"llm_model": "qwen2.5-coder-1.5b-instruct-q4_k_m"}))
    try:
        assert kg.chat is not None
        pid = runtime._read_state(kg.settings).pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        status = kg.status()
        assert status.llm_error and "exited with code -9" in status.llm_error
        assert not Path(f"/proc/{pid}").exists()
        assert kg._llm.wait_restart(600)
        assert kg.status().llm_error is None
        assert runtime._read_state(kg.settings).pid != pid  # type: ignore[union-attr]
    finally:
        kg.close()
        runtime.stop_own_servers()
