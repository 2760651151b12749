"""Turn the facade's exceptions into one readable message, shared by the chatbot and the API.

Exception classes are matched by name along the MRO so this module never imports the store,
the LLM client or the Cypher guard (they are heavy, and some may be missing in a slim install).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

log = logging.getLogger("kg.app")


class Problem(NamedTuple):
    status: int
    title: str
    detail: str


# class name -> (HTTP status, title); the first name found along the exception's MRO wins
_KNOWN: dict[str, tuple[int, str]] = {
    "UnsafeCypherError": (400, "Query refused"),
    "MissingParameter": (400, "Missing parameter"),
    "QueryError": (400, "Bad query"),
    "QueryTimeout": (504, "Query timed out"),
    "StoreUnavailable": (503, "Graph store unavailable"),
    "LLMUnavailable": (503, "Language model unavailable"),
    "WorkspaceLocked": (409, "Workspace busy"),
    "WorkspaceError": (503, "Workspace not ready"),
    "FileNotFoundError": (404, "Not found"),
    "ValueError": (400, "Invalid request"),
}


def describe(exc: BaseException) -> Problem:
    """Classify ``exc``; unknown errors are logged with their traceback and reported generically."""
    for cls in type(exc).__mro__:
        known = _KNOWN.get(cls.__name__)
        if known:
            detail = " ".join(str(exc).split()) or cls.__name__
            return Problem(known[0], known[1], detail[:1000])
    log.exception("unexpected error", exc_info=exc)
    return Problem(500, "Internal error", f"{type(exc).__name__}: the server logged the details")


def message(exc: BaseException) -> str:
    """A one-line message for the UI: the title, then what went wrong."""
    problem = describe(exc)
    return f"{problem.title}: {problem.detail}"
