"""Until ``kg``'s own signal handling takes over, Ctrl-C or SIGTERM end the process at once.

Importing the CLI (Typer, Rich, pydantic) takes a second or more on a busy machine; a Ctrl-C in
that second used to print a ``KeyboardInterrupt`` traceback from deep inside an import. Nothing
has been started yet then, so exiting with the shell's codes (130, 0) loses nothing. Only the
``kg`` program itself is affected (not tests or other programs that import ``app.cli``). The
interpreter's own start (its first ~50 ms, before any of kg's code runs) is Python's.
"""

from __future__ import annotations

import os  # only modules the interpreter has loaded already: installed within milliseconds
import signal
import sys

_CODES = {signal.SIGINT: 130, signal.SIGTERM: 0}
_installed = False


def _exit_now(signum: int, frame: object) -> None:
    os._exit(_CODES.get(signal.Signals(signum), 1))


def _is_kg_program() -> bool:
    main = sys.modules.get("__main__")
    name = os.path.basename(getattr(main, "__file__", "") or "")
    return name == "kg" or getattr(getattr(main, "__spec__", None), "name", "") == "app.cli"


def install() -> None:
    """Exit quietly on SIGINT/SIGTERM from now until ``release`` (the ``kg`` program only)."""
    global _installed
    if _is_kg_program():
        for sig in _CODES:
            signal.signal(sig, _exit_now)
        _installed = True


def release() -> None:
    """Python's own handling again (KeyboardInterrupt for Ctrl-C) once kg's modules are in."""
    global _installed
    if _installed:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _installed = False


install()
