"""Turn the facade's exceptions into one readable message, shared by the chatbot and the API.

A user's error is a ``kg.errors.KGError`` (or an ``OSError`` on a named path, see
``as_user_error``): it carries its own HTTP status and title. Anything else is a bug: it is
logged with its traceback and reported as "internal error, please report"; with ``KG_DEBUG=1``
the problem's detail holds the traceback too.
"""

from __future__ import annotations

import logging
import os
import traceback
from typing import NamedTuple

from kg.errors import INTERNAL_MESSAGE, as_user_error

log = logging.getLogger("kg.app")
MAX_DETAIL = 1000
MAX_TRACEBACK = 8000


class Problem(NamedTuple):
    status: int
    title: str
    detail: str


def debug() -> bool:
    """``KG_DEBUG`` set to anything but empty or 0: show tracebacks."""
    return os.environ.get("KG_DEBUG", "").strip() not in {"", "0"}


def describe(exc: BaseException) -> Problem:
    """Classify ``exc``; unknown errors are logged with their traceback and reported generically."""
    user = as_user_error(exc)
    if user is not None:
        return Problem(user.http_status, user.title, user.message[:MAX_DETAIL])
    log.error("internal error", exc_info=exc)
    detail = f"{INTERNAL_MESSAGE} [{type(exc).__name__}]"
    if debug():
        detail += "\n" + "".join(traceback.format_exception(exc))[-MAX_TRACEBACK:]
    return Problem(500, "Internal error", detail)


def message(exc: BaseException) -> str:
    """A one-line message for the UI: the title, then what went wrong."""
    problem = describe(exc)
    return f"{problem.title}: {problem.detail}"
