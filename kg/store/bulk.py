"""Batched writes for the loader: every batch retried when the store drops the connection, and
on FalkorDB pipelined, so the next batch is serialised while the server runs the previous one.

Profiling a 290k-row load showed the server busy about two thirds of the time and the client
(building rows, turning parameters into FalkorDB's ``CYPHER name=value`` header with the
client library's pure-Python stringifier) the rest, strictly one after the other. Here the
header comes from orjson (C) and a sender thread keeps the server fed: on two cores the client
and the server work at the same time. One sender, one connection: batches run in order.
"""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from kg.store.base import GraphStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

RETRIES = 4
FIRST_DELAY = 0.25  # seconds before the first retry, doubled each time
DEPTH = 2  # batches serialised ahead of the one the server is running
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth a retry, from the drivers already imported (importing neo4j costs ~2 s)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    if "redis" in sys.modules:
        import redis.exceptions as rx

        errors += [rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError]
    if "neo4j" in sys.modules:
        import neo4j.exceptions as nx

        errors += [nx.TransientError, nx.ServiceUnavailable, nx.SessionExpired]
    return tuple(errors)


def retrying(call: Callable[[], Any], what: str, transient: tuple[type[BaseException], ...]) -> Any:
    """``call()``, retried with backoff on transient errors; StoreUnavailable when they last."""

    def warn(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s failed (%s), retry %d in %.2fs", what, exc, state.attempt_number, delay)

    try:
        return Retrying(
            stop=stop_after_attempt(RETRIES),
            wait=wait_exponential(multiplier=FIRST_DELAY),
            retry=retry_if_exception_type(transient),
            before_sleep=warn,
            reraise=True,
        )(call)
    except transient as exc:
        raise StoreUnavailable(
            f"lost the graph store while writing {what} ({type(exc).__name__}: "
            f"{exc}); the workspace is intact, re-run `kg load` when it is back"
        ) from exc


class BatchWriter:
    """Runs write batches one by one through ``store.run`` (any backend)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.transient = transient_errors()

    def submit(self, query: str, params: dict[str, Any], what: str) -> None:
        """Run (or queue) one batch; an earlier batch's failure is raised here or in flush."""
        retrying(lambda: self.store.run(query, params), what, self.transient)

    def flush(self) -> None:
        """Wait until every submitted batch ran; raise the first failure."""

    def close(self) -> None:
        """Stop background work (after flush, or to abandon the rest after a failure)."""

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _literal(value: Any) -> bytes | None:
    """A FalkorDB parameter literal from orjson, or None where orjson's JSON is not one.

    FalkorDB reads JSON's string escapes (\\" \\\\ \\n \\t \\r \\b \\f) but not \\uXXXX (orjson's
    escape for other control characters), and map keys must be bare: flat rows only (a nested
    map keeps its quoted keys, which FalkorDB rejects loudly rather than misreads)."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)  # vectors: float32 rows
    except (TypeError, orjson.JSONEncodeError):
        return None
    if b"\\u" in data:
        return None
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys: set[str] = set().union(*value)
        if not all(_KEY.fullmatch(k) for k in keys):
            return None
        for key in keys:
            # inside a JSON string every '"' is escaped, so '"key":' is always a key
            data = data.replace(b'"' + key.encode() + b'":', key.encode() + b":")
    return data


def params_header(params: Mapping[str, Any]) -> bytes | None:
    """``CYPHER name=value …`` for FalkorDB, or None when the client library must build it."""
    parts = [b"CYPHER"]
    for name, value in params.items():
        if not _KEY.fullmatch(name):
            return None
        literal = _literal(value)
        if literal is None:
            return None
        parts.append(name.encode() + b"=" + literal)
    return b" ".join(parts) + b" "


class FalkorPipeline(BatchWriter):
    """FalkorDB batches sent by one background thread while the caller prepares the next."""

    def __init__(self, client: Any, graph: str, fallback: Callable[[dict[str, Any]], str]):
        """``client``: the redis connection; ``fallback``: the library's header builder."""
        self.client, self.graph, self.fallback = client, graph, fallback
        self.transient = transient_errors()
        self._queue: queue.Queue[tuple[bytes, str] | None] = queue.Queue(maxsize=DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="kg-falkordb-writer", daemon=True)
        self._thread.start()

    def submit(self, query: str, params: dict[str, Any], what: str) -> None:
        self._raise()
        header = params_header(params)
        if header is None:
            header = self.fallback(params).encode("utf-8")
        self._queue.put((header + query.encode("utf-8"), what))

    def _send(self) -> None:
        import redis

        while (item := self._queue.get()) is not None:
            command, what = item
            try:
                if self._error is None:  # after a failure the rest is dropped, not sent
                    retrying(
                        lambda c=command: self.client.execute_command(  # type: ignore[misc]
                            "GRAPH.QUERY", self.graph, c, "--compact"
                        ),
                        what,
                        self.transient,
                    )
            except redis.ResponseError as exc:
                self._error = StoreError(f"FalkorDB rejected the query ({what}): {exc}")
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:  # stays set: later batches are dropped too
            raise self._error

    def flush(self) -> None:
        self._queue.join()
        self._raise()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=600)
