"""Server-sent events for ``/v1/ask/stream``: the sources at once, keep-alives, the choice.

The answer is produced in a worker thread (retrieval, starting the LLM, generation) and handed
over through a queue, so the response can say something while the model is busy: a
``retrieval`` event as soon as the sources are known, and an SSE comment every
``keepalive_s`` seconds until the next token (proxies and browsers drop silent streams).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kg.models import Answer

Produce = Callable[[Callable[[list[Any], list[Any]], None]], Iterator[Any]]


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"


class AnswerStream:
    """Runs ``produce(on_retrieval)`` in a thread; ``events`` turns what it yields into SSE."""

    def __init__(self, produce: Produce, keepalive_s: float, describe: Callable[..., Any]):
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._cancelled = threading.Event()
        self._keepalive_s = keepalive_s
        self._describe = describe
        self._pending: list[tuple[str, Any]] = []
        threading.Thread(
            target=self._run, args=(produce,), name="kg-ask-stream", daemon=True
        ).start()

    def _run(self, produce: Produce) -> None:
        try:
            for item in produce(lambda hits, facts: self._queue.put(("retrieval", (hits, facts)))):
                self._queue.put(("item", item))
                if self._cancelled.is_set():  # the client went away: stop the model
                    break
        except BaseException as exc:  # reported in the stream (or as the status, if first)
            self._queue.put(("error", exc))
        finally:
            self._queue.put(("end", None))

    def first(self) -> None:
        """Wait for the first thing produced; an error before anything is raised here, so
        retrieval failures still get a proper HTTP status."""
        kind, value = self._queue.get()
        if kind == "error":
            self._queue.get()  # the "end" after it
            raise value
        self._pending.append((kind, value))

    def events(self) -> Iterator[str]:
        try:
            while True:
                if self._pending:
                    kind, value = self._pending.pop()
                else:
                    try:
                        kind, value = self._queue.get(timeout=self._keepalive_s)
                    except queue.Empty:
                        yield ": keep-alive\n\n"
                        continue
                if kind == "end":
                    return
                yield self._encode(kind, value)
        finally:
            self._cancelled.set()

    def _encode(self, kind: str, value: Any) -> str:
        if kind == "retrieval":
            hits, facts = value
            return _event(
                "retrieval",
                json.dumps(
                    {
                        "sources": [h.model_dump(mode="json") for h in hits],
                        "facts": [f.model_dump(mode="json") for f in facts],
                    }
                ),
            )
        if kind == "error":
            p = self._describe(value)
            return _event(
                "error", json.dumps({"status": p.status, "title": p.title, "detail": p.detail})
            )
        if isinstance(value, Answer):
            return _event("answer", value.model_dump_json())
        return _event("delta", json.dumps({"text": value}))
