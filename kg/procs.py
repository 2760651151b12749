"""Process handling shared by the servers kg starts (the offline LLM, the embedded FalkorDB)
and by ``kg serve``, which must stop them on SIGTERM or Ctrl-C whenever the signal comes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; an exited child nobody reaped yet (a zombie) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Stopped(BaseException):
    """Raised in the main thread by SIGTERM or SIGINT (a BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """0 for SIGTERM (a requested stop), 128 + n otherwise (130 for Ctrl-C), as shells do."""
        return 0 if self.signum == signal.SIGTERM else 128 + self.signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def raise_on_stop_signals() -> None:
    """From now on SIGTERM and SIGINT raise ``Stopped`` in the main thread (call it first)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopped)


# ---- children that die with us ----

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for a child server: the kernel sends it SIGKILL when the thread that
    started it ends (so when kg is SIGKILLed too), whatever the moment. Linux only (elsewhere
    a no-op)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() == 1:  # the parent died before prctl: do not outlive it
        os._exit(1)


_spawner: Any = None
_spawner_lock = threading.Lock()


def spawn(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` with ``die_with_parent``, run on one thread that lives as long as
    the process: PDEATHSIG fires when the *thread* that forked ends, and the threads of a
    server's pool (which open the store on a request) come and go."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            from concurrent.futures import ThreadPoolExecutor

            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kg-spawner")
    return _spawner.submit(subprocess.Popen, args, preexec_fn=die_with_parent, **kw).result()


def kill_after(proc_pid: int, grace_s: float, running: Callable[[], bool]) -> bool:
    """Wait up to ``grace_s`` for a child to exit by itself, then SIGKILL it; True if it had
    to be killed."""
    import time

    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and running():
        time.sleep(0.05)
    if not running():
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc_pid, signal.SIGKILL)
    return True
