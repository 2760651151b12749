"""The per-chunk caches (LLM answers, spaCy's and the trained tier's results) in one SQLite file.

Keys hash everything that changes an answer (chunk text, prompt version, model, ontology, the
context given to the model). A workspace keeps every cache in ``<workspace>/cache/cache.sqlite``,
one namespace per former directory (``llm``, ``spacy``, ``trained``): a few files however large
the corpus, where one JSON file per entry made about 2.3 million files per GB of notes. WAL mode
lets several worker processes read and write at once; each ``put`` commits, so an interrupted
run resumes where it stopped. A directory of JSON files left by an older kg is imported (and
removed) the first time its namespace is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DB_NAME = "cache.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries "
    "(ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)) "
    "WITHOUT ROWID"
)


def _dumps(value: Any) -> str:
    """JSON for the store; a lone surrogate ("\\ud800" in an LLM's JSON) is written escaped,
    since SQLite (like a UTF-8 file) cannot hold it."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value)
    return text


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class LLMCache:
    """``get``/``put`` JSON values in namespace ``root.name`` of ``root.parent/cache.sqlite``.

    ``root`` is the directory the namespace's JSON files lived in before (``<ws>/cache/llm``);
    it still names the namespace and where files beside the cache (``llm-speed.json``) go.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.namespace = self.root.name
        self.db_path = self.root.parent / DB_NAME
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def for_workspace(cls, workspace_root: Path | str, namespace: str = "llm") -> LLMCache:
        return cls(Path(workspace_root) / "cache" / namespace)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, timeout=60, check_same_thread=False,
                                   isolation_level=None)  # fmt: skip
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn = conn
            self._migrate(conn)
        return self._conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Import the ``<root>/<kk>/<key>.json`` files of the old layout, then remove them."""
        if not self.root.is_dir():
            return
        rows, done = [], []
        for path in self.root.glob("*/*.json"):
            try:
                value = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # damaged by something outside kg: left where it is
                continue
            rows.append((self.namespace, path.stem, _dumps(value)))
            done.append(path)
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO entries VALUES (?, ?, ?)", rows)
        for path in done:
            path.unlink(missing_ok=True)
        for folder in [*self.root.glob("*/"), self.root]:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._db().execute(
                "SELECT value FROM entries WHERE ns = ? AND key = ?", (self.namespace, key)
            ).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        text = _dumps(value)
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", (self.namespace, key, text)
            )

    def put_many(self, items: dict[str, Any]) -> None:
        """Several entries in one transaction (a document's chunks at once)."""
        rows = [(self.namespace, k, _dumps(v)) for k, v in items.items()]
        with self._lock:
            conn = self._db()
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", rows)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            row = self._db().execute(
                "SELECT 1 FROM entries WHERE ns = ? AND key = ?", (self.namespace, key)
            ).fetchone()
        return row is not None

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every entry of this namespace (for tests and inspection)."""
        with self._lock:
            rows = self._db().execute(
                "SELECT key, value FROM entries WHERE ns = ? ORDER BY key", (self.namespace,)
            ).fetchall()
        for key, value in rows:
            yield key, json.loads(value)

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            if self._conn is not None:
                self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for worker processes: each opens its own connection."""
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])  # type: ignore[misc]
