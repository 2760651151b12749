"""Load a workspace into a graph store: batched, idempotent, incremental, verified.

``<workspace>/loaded.json`` records what the store holds (a hash per document of everything
loaded for it, plus entity and relation hashes). The next load writes only the difference:
new, changed and deleted documents, and the entities/relations that changed or lost their
support. If that file is missing, belongs to another store, or the store's counts disagree
with it (a crashed load), the graph is cleared and loaded in full. Every load ends by comparing
the store's counts with what the workspace says it should hold.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from kg.cypher import cypher
from kg.store.base import GraphStore, StoreUnavailable
from kg.store.rows import FILES, GraphRows, _dumps, _loads, rows_from_workspace
from kg.workspace import Workspace, atomic_write_text

log = logging.getLogger(__name__)

STATE_FILE = "loaded.json"
STATE_VERSION = 1
RETRIES = 4


class LoadMismatch(RuntimeError):
    """After loading, the store does not hold what the workspace says it should."""


class LoadReport(BaseModel):
    store: str
    mode: Literal["full", "incremental", "unchanged"]
    reason: str = ""
    expected: dict[str, int] = Field(default_factory=dict)
    written: dict[str, int] = Field(default_factory=dict)  # the store's counts after the load
    rows: dict[str, int] = Field(default_factory=dict)  # rows sent, per upsert/delete file
    added_docs: list[str] = Field(default_factory=list)
    changed_docs: list[str] = Field(default_factory=list)
    removed_docs: list[str] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_total(self) -> int:
        return sum(self.rows.values())


def _transient() -> tuple[type[BaseException], ...]:
    """Errors worth a retry, from the drivers already imported (importing neo4j costs ~2 s)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    if "redis" in sys.modules:
        import redis.exceptions as rx

        errors += [rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError]
    if "neo4j" in sys.modules:
        import neo4j.exceptions as nx

        errors += [nx.TransientError, nx.ServiceUnavailable, nx.SessionExpired]
    return tuple(errors)


class _Writer:
    """Runs batches (one transaction each) with retries, counting rows and driving progress."""

    def __init__(self, store: GraphStore, batch_size: int, advance: Callable[[int], None]):
        self.store, self.batch_size, self.advance = store, max(1, batch_size), advance
        self.rows: dict[str, int] = {}
        self.transient = _transient()

    def write(self, name: str, rows: Sequence[Any], key: str = "rows", **ids: str) -> None:
        if not rows:
            return
        query = cypher(name, **ids)
        total = (len(rows) + self.batch_size - 1) // self.batch_size
        for n, start in enumerate(range(0, len(rows), self.batch_size), 1):
            batch = list(rows[start : start + self.batch_size])
            self._run(query, {key: batch}, f"{name} batch {n}/{total}")
            self.rows[name] = self.rows.get(name, 0) + len(batch)
            self.advance(len(batch))

    def _run(self, query: str, params: dict[str, Any], what: str) -> None:
        delay = 0.25
        for attempt in range(1, RETRIES + 1):
            try:
                self.store.run(query, params)
                return
            except self.transient as exc:
                if attempt == RETRIES:
                    raise StoreUnavailable(
                        f"lost the graph store while writing {what} ({type(exc).__name__}: "
                        f"{exc}); the workspace is intact, re-run `kg load` when it is back"
                    ) from exc
                log.warning("%s failed (%s), retry %d in %.2fs", what, exc, attempt, delay)
                time.sleep(delay)
                delay *= 2


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled or total == 0:
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("loading graph"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as prog:
        task = prog.add_task("load", total=total)
        yield lambda n: prog.advance(task, n)


def _write_documents(w: _Writer, rows: GraphRows, embedding_file: str) -> None:
    w.write("upsert/documents", rows.documents)
    w.write("upsert/chunks", rows.chunks)
    w.write("upsert/next", rows.next)
    w.write("upsert/summaries", rows.summaries)
    w.write(embedding_file, rows.embeddings)


def _write_entities(w: _Writer, entities: Mapping[str, list[dict[str, Any]]]) -> None:
    for label, batch in sorted(entities.items()):
        w.write("upsert/entities", batch, label=label)


def _write_relations(w: _Writer, relations: Mapping[str, list[dict[str, Any]]]) -> None:
    for rel_type, batch in sorted(relations.items()):
        w.write("upsert/relations", batch, rel_type=rel_type)


def _size(*parts: Any) -> int:
    total = 0
    for p in parts:
        total += sum(len(v) for v in p.values()) if isinstance(p, Mapping) else len(p)
    return total


def _state_of(store: GraphStore, rows: GraphRows) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "store": store.identity,
        "counts": rows.expected(),
        "documents": rows.doc_hashes,
        "entities": rows.entity_hashes,
        "relations": rows.relation_keys,
    }


def _file_stamps(workspace: Workspace) -> dict[str, list[int]]:
    """Size and mtime of each input file: equal stamps let a repeated load skip all parsing."""
    stamps: dict[str, list[int]] = {}
    for name in FILES:
        with contextlib.suppress(OSError):
            st = workspace.path(name).stat()
            stamps[name] = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    return stamps


def _untouched(state: Any, store: GraphStore, files: dict[str, list[int]]) -> bool:
    """The files are those of the last load and the store still holds exactly that load."""
    if not isinstance(state, dict) or state.get("files") != files:
        return False
    if state.get("version") != STATE_VERSION or state.get("store") != store.identity:
        return False
    return bool(store.counts() == state.get("counts"))


def _read_state(workspace: Workspace) -> Any:
    path = workspace.root / STATE_FILE
    try:
        return _loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _write_state(workspace: Workspace, state: dict[str, Any]) -> None:
    atomic_write_text(workspace.root / STATE_FILE, _dumps(state).decode("utf-8"))


def _usable_state(
    state: Any, store: GraphStore, new_entities: Mapping[str, str]
) -> tuple[bool, str]:
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return False, "first load (no loaded.json)"
    if state.get("store") != store.identity:
        return False, f"loaded.json describes another store ({state.get('store')})"
    if any(
        str(h).split(":", 1)[0] != str(state.get("entities", {}).get(e, h)).split(":", 1)[0]
        for e, h in new_entities.items()
    ):
        return False, "entity labels changed (another ontology?)"
    actual = store.counts()
    if actual != state.get("counts"):
        return False, "the store differs from loaded.json (an interrupted load?)"
    return True, ""


def load_workspace(
    workspace: Workspace,
    store: GraphStore,
    *,
    rebuild: bool = False,
    batch_size: int = 1000,
    progress: bool = True,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> LoadReport:
    """Make the store hold exactly the workspace graph; raise LoadMismatch if it does not.

    ``embeddings`` (chunk id -> vector) fills ``Chunk.embedding`` for the vector index.
    Holds ``workspace.lock("load")``: a second load of the same workspace fails fast.
    """
    started = time.perf_counter()
    with workspace.lock("load"):
        state = _read_state(workspace)
        files = _file_stamps(workspace)
        if not rebuild and embeddings is None and _untouched(state, store, files):
            counts = state["counts"]
            return LoadReport(
                store=store.identity, mode="unchanged", reason="workspace files unchanged",
                expected=counts, written=counts,
                seconds=round(time.perf_counter() - started, 3),
            )  # fmt: skip
        rows = rows_from_workspace(workspace, embeddings=embeddings)
        expected = rows.expected()
        if rebuild:
            usable, reason = False, "--rebuild"
        else:
            usable, reason = _usable_state(state, store, rows.entity_hashes)
        report = LoadReport(
            store=store.identity,
            mode="incremental" if usable else "full",
            reason=reason,
            expected=expected,
            skipped=dict(rows.skipped),
            warnings=list(rows.warnings),
        )
        embedding_file = f"upsert/chunk_embeddings_{store.name}"
        if usable:
            _incremental(
                workspace, store, rows, state, report, batch_size, progress, embedding_file
            )
        else:
            (workspace.root / STATE_FILE).unlink(missing_ok=True)
            store.clear()  # leaves the schema (indexes before MERGE) in place
            total = _size(rows.documents, rows.chunks, rows.next, rows.summaries, rows.embeddings,
                          rows.entities, rows.mentions, rows.relations)  # fmt: skip
            with _progress(progress, total) as advance:
                w = _Writer(store, batch_size, advance)
                _write_documents(w, rows, embedding_file)
                _write_entities(w, rows.entities)
                w.write("upsert/mentions", rows.mentions)
                _write_relations(w, rows.relations)
            report.rows = w.rows
            report.added_docs = sorted(rows.doc_hashes)
        report.written = store.counts()
        report.seconds = round(time.perf_counter() - started, 3)
        if report.written != expected:
            diff = {
                k: f"{report.written.get(k, 0)} != {v}"
                for k, v in expected.items()
                if report.written.get(k, 0) != v
            }
            raise LoadMismatch(f"store counts differ from the workspace after loading: {diff}")
        if report.rows:
            store.persist()
        _write_state(workspace, {**_state_of(store, rows), "files": files})
        return report


def _incremental(
    workspace: Workspace,
    store: GraphStore,
    rows: GraphRows,
    state: dict[str, Any],
    report: LoadReport,
    batch_size: int,
    progress: bool,
    embedding_file: str,
) -> None:
    old_docs: dict[str, str] = state.get("documents", {})
    old_ents: dict[str, str] = state.get("entities", {})
    old_rels: dict[str, list[str]] = state.get("relations", {})
    added = sorted(set(rows.doc_hashes) - set(old_docs))
    removed = sorted(set(old_docs) - set(rows.doc_hashes))
    changed = sorted(d for d, h in rows.doc_hashes.items() if d in old_docs and old_docs[d] != h)
    ents_gone = sorted(set(old_ents) - set(rows.entity_hashes))
    ents_new = {e for e, h in rows.entity_hashes.items() if old_ents.get(e) != h}
    rels_new = {
        r for r, key in rows.relation_keys.items() if (old_rels.get(r) or [None])[0] != key[0]
    }
    # changed relations are deleted and re-created: their type may have changed
    rels_gone = [
        {"id": r, "head_id": old_rels[r][1], "tail_id": old_rels[r][2]}
        for r in sorted((set(old_rels) - set(rows.relation_keys)) | (rels_new & set(old_rels)))
    ]
    report.added_docs, report.changed_docs, report.removed_docs = added, changed, removed
    if not (added or removed or changed or ents_gone or ents_new or rels_gone or rels_new):
        report.mode = "unchanged"
        return
    docs = rows.for_documents(set(added) | set(changed))
    entities = rows.only_entities(ents_new)
    relations = rows.only_relations(rels_new)
    total = len(removed) + len(changed) + len(rels_gone) + len(ents_gone)
    total += _size(docs.documents, docs.chunks, docs.next, docs.summaries, docs.embeddings,
                   entities, docs.mentions, relations)  # fmt: skip
    # from here on the store no longer matches loaded.json until the load finishes
    (workspace.root / STATE_FILE).unlink(missing_ok=True)
    with _progress(progress, total) as advance:
        w = _Writer(store, batch_size, advance)
        w.write("delete/documents", removed + changed, key="ids")
        w.write("delete/relations", rels_gone)  # gone or changed
        w.write("delete/entities", ents_gone, key="ids")
        _write_documents(w, docs, embedding_file)
        _write_entities(w, entities)
        w.write("upsert/mentions", docs.mentions)
        _write_relations(w, relations)
    report.rows = w.rows
