"""A disk cache of LLM results, so that re-running on an unchanged corpus makes no LLM calls.

Keys hash everything that changes an answer (chunk text, prompt version, model, ontology, the
context given to the model). One small JSON file per entry, written atomically as each chunk
finishes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from kg.workspace import atomic_write_text


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class LLMCache:
    """``get``/``put`` JSON values under ``<workspace>/cache/llm/<kk>/<key>.json``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    @classmethod
    def for_workspace(cls, workspace_root: Path | str) -> LLMCache:
        return cls(Path(workspace_root) / "cache" / "llm")

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        path = self._path(key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, or damaged by something outside kg
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.hits += 1
        return value

    def put(self, key: str, value: Any) -> None:
        text = json.dumps(value, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the LLM's JSON): escape it
            text = json.dumps(value)
        atomic_write_text(self._path(key), text)

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()
