"""What the last load put in the store, kept in the workspace so the next load diffs cheaply.

Two parts, both written only after the store's counts matched (``loaded.json`` is the commit
mark: no marker, no incremental load):

- ``loaded/<file>.jsonl``: the input files as loaded. Hard links: the workspace replaces its
  files atomically (new inode), so a link keeps the loaded version for free; the next load
  finds changed lines by comparing line sets in C instead of hashing every line in Python.
- ``loaded.sqlite``: per entity and relation id the verdict of the last load (label, kept,
  live mentions; type, ends, written) and every chunk id a record points at, so that a change
  to a few chunks finds the few records that point at them by an index lookup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kg.store.rows import ENTITY, RELATION, LineIndex

SNAPSHOT_DIR = "loaded"
INDEX_FILE = "loaded.sqlite"
_CHUNK = 500  # ids per IN (...) query (SQLite's variable limit is 32766; keep statements small)

_SCHEMA = """
CREATE TABLE entity (id TEXT PRIMARY KEY, label TEXT, kept INTEGER, live INTEGER);
CREATE TABLE relation (id TEXT PRIMARY KEY, type TEXT, head TEXT, tail TEXT, written INTEGER);
CREATE TABLE ref (chunk TEXT, kind INTEGER, id TEXT);
"""
_INDEXES = """
CREATE INDEX ref_chunk ON ref (chunk);
CREATE INDEX ref_id ON ref (id);
CREATE INDEX relation_head ON relation (head);
CREATE INDEX relation_tail ON relation (tail);
"""


def stamp(path: Path) -> list[int] | None:
    """Inode, size and mtime: what changes when a file is replaced or edited in place."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def snapshot(src: Path, folder: Path) -> list[int] | None:
    """Keep ``src`` as loaded in ``folder`` (a hard link, else a copy); returns its stamp."""
    folder.mkdir(parents=True, exist_ok=True)
    dst, tmp = folder / src.name, folder / f".{src.name}.tmp"
    tmp.unlink(missing_ok=True)
    if not src.is_file():
        dst.unlink(missing_ok=True)
        return None
    with contextlib.suppress(OSError):
        if os.path.samefile(src, dst):  # already this version (rename would be a no-op)
            return stamp(dst)
    try:
        os.link(src, tmp)
    except OSError:  # no hard links here (another file system, a FUSE mount …)
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)
    return stamp(dst)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class LoadIndex:
    """The SQLite index of what the last load decided for each entity and relation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level="DEFERRED")
        # loaded.json, written after the commit, is what marks a load finished: the index needs
        # no fsync of its own (a crash before the marker means a full load, which rebuilds it)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -131072")  # 128 MB: the whole index at 1M rows
        self.db.execute("PRAGMA temp_store = MEMORY")

    @classmethod
    def build(cls, path: Path, index: LineIndex) -> LoadIndex:
        """A fresh index at ``path`` (replacing any) holding ``index``; not yet committed."""
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        self = cls(path)
        self.db.executescript(_SCHEMA)
        self._insert(index)
        self.db.executescript(_INDEXES)
        return self

    def _insert(self, index: LineIndex) -> None:
        self.db.executemany("INSERT OR REPLACE INTO entity VALUES (?, ?, ?, ?)", index.entities)
        self.db.executemany(
            "INSERT OR REPLACE INTO relation VALUES (?, ?, ?, ?, ?)", index.relations
        )
        self.db.executemany("INSERT INTO ref VALUES (?, ?, ?)", index.refs)

    def _select(self, sql: str, ids: Iterable[str]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for part in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(part))
            out += self.db.execute(sql.format(marks), tuple(part)).fetchall()
        return out

    def entities(self, ids: Iterable[str]) -> dict[str, tuple[str, int, int]]:
        """id -> (label, kept, live mentions) for the ids the last load saw."""
        rows = self._select("SELECT id, label, kept, live FROM entity WHERE id IN ({})", ids)
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def relations(self, ids: Iterable[str]) -> dict[str, tuple[str, str, str, int]]:
        """id -> (type, head, tail, written) for the ids the last load saw."""
        rows = self._select(
            "SELECT id, type, head, tail, written FROM relation WHERE id IN ({})", ids
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def referencing(self, chunk_ids: Iterable[str]) -> tuple[set[str], set[str]]:
        """(entity ids, relation ids) whose records point at any of ``chunk_ids``."""
        rows = self._select("SELECT DISTINCT kind, id FROM ref WHERE chunk IN ({})", chunk_ids)
        return {i for k, i in rows if k == ENTITY}, {i for k, i in rows if k == RELATION}

    def relations_of(self, entity_ids: Iterable[str]) -> set[str]:
        """Ids of the relations whose head or tail is one of ``entity_ids``."""
        ids = list(entity_ids)
        heads = self._select("SELECT id FROM relation WHERE head IN ({})", ids)
        tails = self._select("SELECT id FROM relation WHERE tail IN ({})", ids)
        return {r[0] for r in heads} | {r[0] for r in tails}

    def replace(
        self, entity_ids: Iterable[str], relation_ids: Iterable[str], index: LineIndex
    ) -> None:
        """Forget the given records, then store their new verdicts (uncommitted)."""
        for kind, ids in ((ENTITY, list(entity_ids)), (RELATION, list(relation_ids))):
            table = "entity" if kind == ENTITY else "relation"
            for part in _chunks(ids):
                marks = ",".join("?" * len(part))
                self.db.execute(f"DELETE FROM {table} WHERE id IN ({marks})", tuple(part))
                self.db.execute(
                    f"DELETE FROM ref WHERE kind = ? AND id IN ({marks})",
                    (kind, *part),
                )
        self._insert(index)

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.rollback()
            self.db.close()


def open_index(path: Path) -> LoadIndex | None:
    """The existing index, or None when it is missing or unreadable (then: a full load)."""
    if not path.is_file():
        return None
    try:
        index = LoadIndex(path)
        index.db.execute("SELECT 1 FROM entity LIMIT 1").fetchall()
        index.db.execute("SELECT 1 FROM relation LIMIT 1").fetchall()
    except sqlite3.Error:
        return None
    return index
