"""Every error a user can cause or fix, in one hierarchy: the message, an HTTP status, an exit code.

The CLI (``app/cli_common.py``) and the API and chatbot (``app/errors.py``) recognise a user's
error with ``isinstance(exc, KGError)`` and show its message; anything else is a bug in kg and is
reported as one (a short "internal error, please report" line, the traceback under
``KG_DEBUG=1``). So code that rejects input, configuration or an environment raises a subclass
here, never a bare ``ValueError``. The classes also subclass the built-in exception they used to
be (``ValueError``, ``RuntimeError``, ``FileNotFoundError``) so existing ``except`` clauses hold.
"""

from __future__ import annotations

EXIT_ERROR = 1  # the command failed for a reason the message gives
EXIT_USAGE = 2  # the input was wrong (Click's usage-error code)
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in kg
INTERNAL_MESSAGE = "internal error, please report (set KG_DEBUG=1 for the traceback)"


class KGError(Exception):
    """A user-facing error. ``title`` heads an HTTP problem; the message says what to do."""

    title = "Error"
    http_status = 500
    exit_code = EXIT_ERROR

    def __init__(
        self, message: str = "", *, http_status: int | None = None, exit_code: int | None = None
    ) -> None:
        super().__init__(message)
        if http_status is not None:
            self.http_status = http_status
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The message on one line (newlines and runs of spaces folded)."""
        return " ".join(str(self).split()) or type(self).__name__


# ---------------------------------------------------------------- input


class BadInput(KGError, ValueError):
    """A value the user gave is not acceptable (an empty question, an unknown mode or format)."""

    title = "Invalid request"
    http_status = 400


class NotFound(KGError, FileNotFoundError):
    """A file, folder or named resource the user asked for does not exist."""

    title = "Not found"
    http_status = 404


class GoldFileError(BadInput):
    """An evaluation gold file is missing or not valid gold."""

    exit_code = EXIT_USAGE


class MissingDependency(KGError, RuntimeError):
    """An optional part of kg is not installed; the message names the extra that installs it."""

    title = "Not installed"
    http_status = 501

    @classmethod
    def extra(cls, extra: str, what: str, exc: ImportError | None = None) -> MissingDependency:
        """``what`` needs ``kg-notes-graph[extra]`` (``exc`` names the missing module)."""
        from kg import DISTRIBUTION

        module = f" ({exc.name} is not installed)" if exc is not None and exc.name else ""
        return cls(f"{what} needs the {extra!r} extra{module}: pip install "
                   f"'{DISTRIBUTION}[{extra}]' (scripts/install.sh installs everything)")


class FileSystemError(KGError, OSError):
    """The file system refused: no permission, disk full, not a folder (the machine, not kg)."""

    title = "File system error"
    http_status = 503


# ---------------------------------------------------------------- workspace


class WorkspaceError(KGError, RuntimeError):
    """The workspace is missing, unreadable or holds an invalid record."""

    title = "Workspace not ready"
    http_status = 503


class WorkspaceLocked(WorkspaceError):
    """Another process (or upload) is writing the workspace."""

    title = "Workspace busy"
    http_status = 409


class LoadMismatch(KGError, RuntimeError):
    """After loading, the store does not hold what the workspace says it should."""

    title = "Load mismatch"


# ---------------------------------------------------------------- graph store and Cypher


class StoreError(KGError, RuntimeError):
    """A store operation failed (bad query, constraint violation, …)."""

    title = "Graph store error"


class StoreUnavailable(StoreError):
    """The store cannot be reached or started; the message says why in one line."""

    title = "Graph store unavailable"
    http_status = 503


class QueryError(StoreError):
    """The store refused a query (syntax, unknown function, wrong type): the caller's mistake."""

    title = "Bad query"
    http_status = 400
    exit_code = EXIT_USAGE


class QueryTimeout(StoreError):
    """A read ran past its timeout (enforced on the client side too, see FalkorDBStore)."""

    title = "Query timed out"
    http_status = 504


class UnsafeCypherError(KGError, ValueError):
    """The query could write, administer, or could not be proven read-only."""

    title = "Query refused"
    http_status = 400
    exit_code = EXIT_USAGE


class MissingParameter(KGError, ValueError):
    """The query uses a ``$parameter`` the caller did not pass."""

    title = "Missing parameter"
    http_status = 400
    exit_code = EXIT_USAGE


# ---------------------------------------------------------------- language model


class LLMUnavailable(KGError, RuntimeError):
    """The LLM server cannot be reached (down, refused, unknown host) even after retries."""

    title = "Language model unavailable"
    http_status = 503


class LLMRuntimeError(KGError, RuntimeError):
    """The offline model could not be assembled, verified or started."""

    title = "Language model unavailable"
    http_status = 503


def as_user_error(exc: BaseException) -> KGError | None:
    """``exc`` as a user's error, or None when it is a bug in kg.

    An ``OSError`` on a named path (permission denied, disk full, a file the user named that is
    gone) is the machine's state, not a bug, so it becomes ``NotFound`` or ``FileSystemError``.
    """
    if isinstance(exc, KGError):
        return exc
    if isinstance(exc, OSError) and exc.filename is not None:
        cls = NotFound if isinstance(exc, FileNotFoundError) else FileSystemError
        return cls(f"{exc.strerror or exc}: {exc.filename}")
    return None
