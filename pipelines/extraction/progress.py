"""The progress bar of ``kg extract``: one step per chunk, safe to tick from worker threads."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from kg.models import Chunk, Document


class ChunkProgress:
    """Counts chunks; a stage may ``tick`` each chunk as it goes, ``done`` settles the rest."""

    def __init__(self, total: int, enabled: bool, label: str = "extract") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            disable=not enabled,
            transient=False,
        )
        self._total = total
        self._task: Any = None
        self._ticked: set[str] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> ChunkProgress:
        self._bar.__enter__()
        self._task = self._bar.add_task("chunks", total=self._total, note="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)

    def tick(self, document: Document | None, chunk: Chunk) -> None:
        with self._lock:
            if chunk.id not in self._ticked:
                self._ticked.add(chunk.id)
                note = document.path[-40:] if document is not None else ""
                self._bar.update(self._task, advance=1, note=note)

    def done(self, document: Document, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            self.tick(document, chunk)
