"""Process handling shared by the servers kg starts (the offline LLM, the embedded FalkorDB)
and by ``kg serve``, which must stop them on SIGTERM or Ctrl-C whenever the signal comes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

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
