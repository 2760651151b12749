"""Load a workspace into a graph store: batched, idempotent, incremental, verified.

``<workspace>/loaded.json`` records what the store holds: a hash per document (its record,
chunks, summaries, embeddings), the chunk ids, and per entity/relation JSONL line its digest
with what was decided for it (kg.store.rows.plan_update). The next load writes only the
difference: new, changed and deleted documents; entity and relation lines that are new, or
whose chunks came or went (an entity owns its MENTIONS, which are replaced with it); and the
entities/relations that lost their support. If that file is missing, belongs to another store
or ontology, or the store's counts disagree with it (a crashed load), the graph is cleared and
loaded in full. Every load ends by comparing the store's counts with what the workspace says
it should hold (LoadMismatch otherwise). A repeated load of untouched files costs a stat().
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
from kg.store.base import COUNT_KEYS, GraphStore, StoreUnavailable
from kg.store.rows import (
    FILES,
    GraphRows,
    Update,
    _dumps,
    _loads,
    plan_update,
    rows_from_workspace,
    workspace_ontology,
)
from kg.workspace import Workspace, atomic_write_text

log = logging.getLogger(__name__)

STATE_FILE = "loaded.json"
STATE_VERSION = 2
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


def _state_of(
    store: GraphStore, rows: GraphRows, expected: dict[str, int], ontology: str
) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "store": store.identity,
        "ontology": ontology,
        "counts": expected,
        "documents": rows.doc_hashes,
        "chunks": rows.chunk_docs,
        "entity_lines": rows.entity_lines,
        "relation_lines": rows.relation_lines,
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


def _usable_state(state: Any, store: GraphStore, ontology: str) -> tuple[bool, str]:
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return False, "first load (no loaded.json)"
    if state.get("store") != store.identity:
        return False, f"loaded.json describes another store ({state.get('store')})"
    if state.get("ontology") != ontology:
        return False, "the ontology changed"
    if store.counts() != state.get("counts"):
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
            counts = {k: state["counts"][k] for k in COUNT_KEYS}
            return LoadReport(
                store=store.identity, mode="unchanged", reason="workspace files unchanged",
                expected=counts, written=counts,
                seconds=round(time.perf_counter() - started, 3),
            )  # fmt: skip
        ontology = workspace_ontology(workspace)
        fingerprint = ontology.fingerprint() if ontology else "regex"
        usable, reason = (False, "--rebuild") if rebuild else (True, "")
        if usable:
            usable, reason = _usable_state(state, store, fingerprint)
        update = None
        if usable:
            update = plan_update(workspace, state, ontology=ontology, embeddings=embeddings)
            reason = "" if update else "duplicate ids in the workspace"
        embedding_file = f"upsert/chunk_embeddings_{store.name}"
        if update is not None:
            rows, expected = update.rows, update.expected
            report = _report(store, "incremental", reason, expected, rows)
            _apply_update(workspace, store, update, report, batch_size, progress, embedding_file)
        else:
            rows = rows_from_workspace(workspace, ontology=ontology, embeddings=embeddings)
            expected = rows.expected()
            report = _report(store, "full", reason, expected, rows)
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
        _write_state(workspace, {**_state_of(store, rows, expected, fingerprint), "files": files})
        return report


def _report(
    store: GraphStore, mode: Any, reason: str, expected: dict[str, int], rows: GraphRows
) -> LoadReport:
    return LoadReport(
        store=store.identity, mode=mode, reason=reason, expected=expected,
        skipped=dict(rows.skipped), warnings=list(rows.warnings),
    )  # fmt: skip


def _apply_update(
    workspace: Workspace,
    store: GraphStore,
    update: Update,
    report: LoadReport,
    batch_size: int,
    progress: bool,
    embedding_file: str,
) -> None:
    report.added_docs, report.changed_docs = update.added, update.changed
    report.removed_docs = update.removed
    if update.empty:
        report.mode = "unchanged"
        return
    docs = update.docs
    resync = update.resync_ids
    total = len(update.removed) + len(update.changed) + len(update.delete_relations)
    total += len(update.delete_entities) + len(resync)
    total += _size(docs.documents, docs.chunks, docs.next, docs.summaries, docs.embeddings,
                   update.entities, update.mentions, update.relations)  # fmt: skip
    # from here on the store no longer matches loaded.json until the load finishes
    (workspace.root / STATE_FILE).unlink(missing_ok=True)
    with _progress(progress, total) as advance:
        w = _Writer(store, batch_size, advance)
        w.write("delete/documents", update.removed + update.changed, key="ids")
        w.write("delete/relations", update.delete_relations)  # gone, or about to be rewritten
        w.write("delete/entities", update.delete_entities, key="ids")
        _write_documents(w, docs, embedding_file)
        _write_entities(w, update.entities)
        w.write("delete/entity_mentions", resync, key="ids")
        w.write("upsert/mentions", update.mentions)
        _write_relations(w, update.relations)
    report.rows = w.rows
