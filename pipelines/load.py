"""Load a workspace into a graph store: batched, pipelined, idempotent, incremental, verified.

A full load clears the graph and writes every row with ``UNWIND … MERGE`` from
``cypher/upsert``, stage by stage, through the store's batch writer (kg.store.bulk: on FalkorDB
the next batch is serialised while the server runs the previous one). What the load decided is
kept next to the workspace (kg.store.loaded): ``loaded.json`` (per-document counts, chunk ids,
the store's counts; written last, it marks a finished load), ``loaded/`` (the input files as
loaded, hard-linked) and ``loaded.sqlite`` (per entity/relation its verdict and the chunks it
points at). The next load diffs the files against those copies and writes only the difference
(kg.store.diff). If the record is missing, belongs to another store or ontology, or the store's
counts disagree with it (a crashed load), the load is full. Every load ends by comparing the
store's counts with what the workspace says it should hold (LoadMismatch otherwise). A repeated
load of untouched files costs a stat().

Vectors: the chunk and entity-name embeddings ``kg extract`` wrote (``<workspace>/embeddings/``,
kg.retrieval.embed_workspace) go out with the rows they belong to (``Chunk.embedding``,
``Entity.embedding``, for the stores' vector indexes), so a changed document carries its
vectors and an untouched one keeps them. Every load that writes bumps the store's load
version (``cypher/meta``; kept in loaded.json too): retrieval caches are keyed to it. A store
written by kg's earlier schema (HAS_CHUNK, NEXT) is migrated in place first (kg.store.migrate).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from kg.cypher import cypher
from kg.errors import LoadMismatch
from kg.store.base import COUNT_KEYS, GraphStore
from kg.store.bulk import retrying, transient_errors
from kg.store.diff import Update, plan_update
from kg.store.loaded import INDEX_FILE, SNAPSHOT_DIR, LoadIndex, open_index, snapshot, stamp
from kg.store.migrate import legacy_counts, migrate_store, upgrade_state
from kg.store.rows import FILES, GraphRows, _dumps, _loads, staged_rows, workspace_ontology
from kg.workspace import Workspace, atomic_write_text

log = logging.getLogger(__name__)

STATE_FILE = "loaded.json"
STATE_VERSION = 4
DEFAULT_BATCH = 1000
BATCH_BYTES = 2_000_000  # parameter bytes per batch, at most


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
    migrated: dict[str, int] = Field(default_factory=dict)  # old-schema edges/labels rewritten
    vectors: dict[str, int] = Field(default_factory=dict)  # embeddings written, per kind
    load_version: int = 0
    seconds: float = 0.0

    @property
    def rows_total(self) -> int:
        return sum(self.rows.values())


class _Writer:
    """Sends batches (one transaction each) through the store's batch writer (pipelined on
    FalkorDB, retried on transient errors), counting rows and driving progress."""

    def __init__(self, store: GraphStore, batch_size: int, advance: Callable[[int], None]):
        self.batch_size, self.advance = max(1, batch_size), advance
        self.rows: dict[str, int] = {}
        self.bulk = store.batch_writer()

    def write(self, name: str, rows: Sequence[Any], key: str = "rows", **ids: str) -> None:
        if not rows:
            return
        query = cypher(name, **ids)
        size = _batch_rows(rows, self.batch_size)
        total = (len(rows) + size - 1) // size
        for n, start in enumerate(range(0, len(rows), size), 1):
            batch = list(rows[start : start + size])
            self.bulk.submit(query, {key: batch}, f"{name} batch {n}/{total}")
            self.rows[name] = self.rows.get(name, 0) + len(batch)
            self.advance(len(batch))

    def finish(self) -> None:
        """Wait for the batches still in flight; raise the first failure."""
        self.bulk.flush()


def _batch_rows(rows: Sequence[Any], batch_size: int) -> int:
    """Rows per batch: ``batch_size``, fewer for wide rows (chunk texts) so that one batch
    stays near BATCH_BYTES of parameters (long statements parse and allocate slowly)."""
    sample = rows[: min(len(rows), 50)]
    width = max(1, len(_dumps(list(sample))) // max(1, len(sample)))
    return max(1, min(batch_size, BATCH_BYTES // width))


@contextlib.contextmanager
def _writer(
    store: GraphStore, batch_size: int, advance: Callable[[int], None]
) -> Iterator[_Writer]:
    w = _Writer(store, batch_size, advance)
    try:
        yield w
        w.finish()
    finally:
        w.bulk.close()


class _Bar:
    """Progress callback whose total can grow (a full load learns its size stage by stage)."""

    def __init__(self, prog: Any = None) -> None:
        self.prog = prog
        self.task = prog.add_task("load", total=0) if prog is not None else None

    def __call__(self, n: int) -> None:
        if self.prog is not None:
            self.prog.advance(self.task, n)

    def grow(self, n: int) -> None:
        if self.prog is not None:
            self.prog.update(self.task, total=self.prog.tasks[0].total + n)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[_Bar]:
    if not enabled:
        yield _Bar()
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
        yield _Bar(prog)


def _write_documents(
    w: _Writer, rows: GraphRows, vectors: _Vectors, store: GraphStore
) -> None:
    w.write("upsert/documents", rows.documents)
    chunks, name = vectors.chunk_rows(rows.chunks, store)
    w.write(name, chunks)
    w.write("upsert/next", rows.next)
    w.write("upsert/summaries", rows.summaries)


class _Vectors:
    """The workspace's chunk and entity vectors and the rows that carry them to the store.

    Chunk vectors travel inside the chunk rows (one write per node). Entity-name vectors go to
    the store only when asked (``entity_vectors``): 50,000 of them cost the embedded FalkorDB
    ~4x a whole 290k-row load's server time (HNSW inserts and parsing), and kg's linker reads
    the full-text index, not them; they stay in the workspace for whoever wants them."""

    def __init__(
        self,
        workspace: Workspace,
        chunks: Mapping[str, Sequence[float]] | None,
        entity_vectors: bool = False,
    ):
        from kg.retrieval.embed_workspace import VectorTable, read_vectors

        given = None
        if chunks is not None:
            ids = list(chunks)
            given = VectorTable("given", ids, np.asarray([chunks[i] for i in ids], np.float32))
        self.tables = {
            "chunks": given if given is not None else read_vectors(workspace.root, "chunks"),
            "entities": read_vectors(workspace.root, "entities") if entity_vectors else None,
        }
        self.written: dict[str, int] = {}

    def chunk_rows(
        self, chunks: list[dict[str, Any]], store: GraphStore
    ) -> tuple[list[dict[str, Any]], str]:
        """The chunk rows (with their vectors when the workspace has some) and their upsert."""
        table = self.tables["chunks"]
        if table is None or not chunks:
            return chunks, "upsert/chunks"
        rows = [{**c, "embedding": table.get(c["id"])} for c in chunks]
        self.written["chunks"] = self.written.get("chunks", 0) + sum(
            1 for r in rows if r["embedding"] is not None
        )
        return rows, f"upsert/chunks_vectors_{store.name}"

    @property
    def models(self) -> dict[str, str]:
        """What loaded.json records: the model of each kind's vectors ("" when there are none)."""
        return {k: t.model_id if t is not None else "" for k, t in self.tables.items()}

    def rows(self, kind: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        table = self.tables[kind]
        if table is None:
            return []
        return [{"id": i, "embedding": table[i]} for i in ids if i in table]

    def write(self, w: _Writer, store: GraphStore, kind: str, ids: Iterable[str]) -> None:
        rows = self.rows(kind, ids)
        name = "chunk" if kind == "chunks" else "entity"
        w.write(f"upsert/{name}_embeddings_{store.name}", rows)
        self.written[kind] = self.written.get(kind, 0) + len(rows)

    def all_ids(self, kind: str) -> list[str]:
        table = self.tables[kind]
        return list(table.ids) if table is not None else []


def _entity_ids(entities: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    return [e["id"] for batch in entities.values() for e in batch]


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


def _file_stamps(workspace: Workspace) -> dict[str, list[int]]:
    """Inode, size, mtime and ctime of each input file: equal stamps let a repeated load skip
    all reading."""
    from kg.retrieval.embed import MODEL_ID
    from kg.retrieval.embed_workspace import KINDS, vectors_path

    stamps: dict[str, list[int]] = {}
    paths = {n: workspace.path(n) for n in FILES}
    paths |= {f"vectors-{k}": vectors_path(workspace.root, k, MODEL_ID) for k in KINDS}
    for name, path in paths.items():
        with contextlib.suppress(OSError):
            st = path.stat()
            stamps[name] = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    return stamps


def _untouched(state: Any, store: GraphStore, files: dict[str, list[int]]) -> bool:
    """The files are those of the last load and the store still holds exactly that load."""
    if not isinstance(state, dict) or state.get("files") != files:
        return False
    if state.get("version") != STATE_VERSION or state.get("store") != store.identity:
        return False
    if state.get("load_version") != store_version(store)["version"]:
        return False
    return bool(store.counts() == state.get("counts"))


def _read_state(workspace: Workspace) -> Any:
    try:
        return upgrade_state(_loads((workspace.root / STATE_FILE).read_bytes()))
    except (OSError, ValueError):
        return None


def store_version(store: GraphStore) -> dict[str, Any]:
    """The store's load version record: {version, state, workspace} (version 0: none yet)."""
    rows = store._read_only(cypher("meta/load_version"), None, 60_000)  # lost: StoreUnavailable
    row = rows[0] if rows else {}
    return {"version": int(row.get("version") or 0), "state": row.get("state") or "",
            "workspace": row.get("workspace") or ""}  # fmt: skip


def _set_version(store: GraphStore, version: int, state: str, workspace: Workspace) -> None:
    params = {"version": version, "state": state, "workspace": str(workspace.root.resolve())}
    query = cypher("meta/set_load_version")
    retrying(lambda: store.run(query, params), "the load version", transient_errors())


def _usable_state(state: Any, store: GraphStore, ontology: str, ws: Workspace) -> str:
    """Why the last load's record cannot drive an incremental load ("" when it can)."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return "first load (no loaded.json)"
    if state.get("store") != store.identity:
        return f"loaded.json describes another store ({state.get('store')})"
    if state.get("ontology") != ontology:
        return "the ontology changed"
    snaps = ws.root / SNAPSHOT_DIR
    if any(stamp(snaps / f"{n}.jsonl") != state["snapshots"].get(n) for n in FILES):
        return "the copies of the last load's files changed"
    if store.counts() != state.get("counts"):
        return "the store differs from loaded.json (an interrupted load?)"
    held = store_version(store)
    if state.get("load_version") is not None and held["version"] != state["load_version"]:
        return (
            f"the store holds load {held['version']}, loaded.json describes load "
            f"{state['load_version']} (loaded from elsewhere since?)"
        )
    return ""


def load_workspace(
    workspace: Workspace,
    store: GraphStore,
    *,
    rebuild: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: bool = True,
    embeddings: Mapping[str, Sequence[float]] | None = None,
    entity_vectors: bool = False,
) -> LoadReport:
    """Make the store hold exactly the workspace graph; raise LoadMismatch if it does not.

    ``embeddings`` (chunk id -> vector) replaces the workspace's chunk vectors (always a full
    load); ``entity_vectors``: also write the entity-name vectors (``Entity.embedding``).
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
                expected=counts, written=counts, load_version=state["load_version"],
                seconds=round(time.perf_counter() - started, 3),
            )  # fmt: skip
        migrated = migrate_store(store) if any(legacy_counts(store).values()) else {}
        vectors = _Vectors(workspace, embeddings, entity_vectors)
        ontology = workspace_ontology(workspace)
        fingerprint = ontology.fingerprint() if ontology else "regex"
        reason = "--rebuild" if rebuild else ""
        reason = reason or ("embeddings given" if embeddings is not None else "")
        reason = reason or _usable_state(state, store, fingerprint, workspace)
        index = None if reason else open_index(workspace.root / INDEX_FILE)
        update = None
        if index is not None:
            update = plan_update(workspace, state, index, workspace.root / SNAPSHOT_DIR, ontology)
            reason = "" if update else "the workspace diff is ambiguous (duplicate ids?)"
        elif not reason:
            reason = "no loaded.sqlite"
        previous = max(store_version(store)["version"], int((state or {}).get("load_version") or 0))
        version = previous + 1
        try:
            if update is not None and index is not None:
                resync = (state or {}).get("vectors") != vectors.models
                report = _apply_update(
                    workspace, store, update, batch_size, progress, vectors, resync, version
                )
                index.replace(*update.forget, update.index)
                next_state = update.state
            else:
                if index is not None:
                    index.close()
                index, report, next_state = _full_load(
                    workspace, store, ontology, vectors, reason, batch_size, progress, version
                )
            report.migrated = {k: v for k, v in migrated.items() if v}
            report.written = store.counts()
            if report.written != report.expected:
                diff = {
                    k: f"{report.written.get(k, 0)} != {v}"
                    for k, v in report.expected.items()
                    if report.written.get(k, 0) != v
                }
                raise LoadMismatch(f"store counts differ from the workspace after loading: {diff}")
            if report.rows:
                report.load_version = version
                _set_version(store, version, "ready", workspace)
                store.persist()
            else:
                report.load_version = previous
            report.vectors = dict(vectors.written)
            _vector_warnings(report, vectors, next_state)
            index.commit()
        finally:
            if index is not None:
                index.close()
        snaps = {n: snapshot(workspace.path(n), workspace.root / SNAPSHOT_DIR) for n in FILES}
        after = _file_stamps(workspace)
        if any(after.get(n, [0])[:3] != files.get(n, [0])[:3] for n in FILES):
            # a file was replaced while loading: the copies are not what was loaded
            (workspace.root / STATE_FILE).unlink(missing_ok=True)
            return _finish(report, started)
        atomic_write_text(
            workspace.root / STATE_FILE,
            _dumps({
                "version": STATE_VERSION, "store": store.identity, "ontology": fingerprint,
                "counts": report.expected, "files": after, "snapshots": snaps,
                "load_version": report.load_version, "vectors": vectors.models, **next_state,
            }).decode("utf-8"),
        )  # fmt: skip
        return _finish(report, started)


def _vector_warnings(report: LoadReport, vectors: _Vectors, state: Mapping[str, Any]) -> None:
    """Say so when chunks go into the store without a vector (the vector view misses them)."""
    table = vectors.tables["chunks"]
    chunks = state.get("chunks") or {}
    missing = len(chunks) if table is None else sum(1 for c in chunks if c not in table)
    if missing:
        report.warnings.append(
            f"{missing} chunks have no embedding (run `kg extract` again to compute them)"
        )


def _finish(report: LoadReport, started: float) -> LoadReport:
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _full_load(
    workspace: Workspace,
    store: GraphStore,
    ontology: Any,
    vectors: _Vectors,
    reason: str,
    batch_size: int,
    progress: bool,
    version: int,
) -> tuple[LoadIndex, LoadReport, dict[str, Any]]:
    """Clear the store and write every row, stage by stage: the documents go out while the
    entities are read and built, and so on (the writer pipelines on FalkorDB)."""
    (workspace.root / STATE_FILE).unlink(missing_ok=True)
    store.clear()  # leaves the schema (indexes before MERGE) in place
    _set_version(store, version, "loading", workspace)
    report = LoadReport(store=store.identity, mode="full", reason=reason)
    rows = GraphRows()
    with _progress(progress) as bar, _writer(store, batch_size, bar) as w:
        for stage, rows in staged_rows(workspace, ontology=ontology):
            if stage == "documents":
                bar.grow(_size(rows.documents, rows.chunks, rows.next, rows.summaries))
                _write_documents(w, rows, vectors, store)
            elif stage == "entities":
                bar.grow(_size(rows.entities, rows.mentions))
                _write_entities(w, rows.entities)
                vectors.write(w, store, "entities", _entity_ids(rows.entities))
                w.write("upsert/mentions", rows.mentions)
            else:
                bar.grow(_size(rows.relations))
                _write_relations(w, rows.relations)
        # while the server works through the queue
        index = LoadIndex.build(workspace.root / INDEX_FILE, rows.index)
    report.rows, report.expected = w.rows, rows.expected()
    report.skipped, report.warnings = dict(rows.skipped), list(rows.warnings)
    report.added_docs = sorted(d["id"] for d in rows.documents)
    state = {
        "documents": rows.doc_counts(), "chunks": rows.chunk_docs,
        "summaries": {s["id"]: s["doc_id"] for s in rows.summaries}, "orphans": rows.orphans,
    }  # fmt: skip
    return index, report, state


def _apply_update(
    workspace: Workspace,
    store: GraphStore,
    update: Update,
    batch_size: int,
    progress: bool,
    vectors: _Vectors,
    resync: bool,
    version: int,
) -> LoadReport:
    """Write the diff; ``resync``: the vectors differ from the last load's (another model, or a
    store from before vectors): every chunk's and entity's vector is written too."""
    report = LoadReport(
        store=store.identity, mode="incremental", expected=update.expected,
        skipped=dict(update.docs.skipped), added_docs=update.added,
        changed_docs=update.changed, removed_docs=update.removed,
    )  # fmt: skip
    if update.empty and not resync:
        report.mode = "unchanged"
        return report
    docs = update.docs
    # from here on the store no longer matches loaded.json until the load finishes
    (workspace.root / STATE_FILE).unlink(missing_ok=True)
    _set_version(store, version, "loading", workspace)
    with _progress(progress) as bar, _writer(store, batch_size, bar) as w:
        bar.grow(len(update.removed) + len(update.changed) + len(update.delete_relations)
                 + len(update.delete_entities) + len(update.resync)
                 + _size(docs.documents, docs.chunks, docs.next, docs.summaries,
                         update.entities, update.mentions, update.relations))  # fmt: skip
        w.write("delete/documents", update.removed + update.changed, key="ids")
        w.write("delete/relations", update.delete_relations)
        w.write("delete/entities", update.delete_entities, key="ids")
        _write_documents(w, docs, vectors, store)
        _write_entities(w, update.entities)
        if resync:
            for kind in ("chunks", "entities"):
                vectors.write(w, store, kind, vectors.all_ids(kind))
        else:
            vectors.write(w, store, "entities", _entity_ids(update.entities))
        w.write("delete/entity_mentions", update.resync, key="ids")
        w.write("upsert/mentions", update.mentions)
        _write_relations(w, update.relations)
    report.rows = w.rows
    return report
