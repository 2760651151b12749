"""The incremental loader's plan: what to delete and write so the store matches the workspace,
with work in proportion to what changed.

Changed lines come from comparing each input file's line set with its snapshot from the last
load (kg.store.loaded; set operations in C, no per-line Python). Only those lines are parsed,
plus the few unchanged records that point at a chunk that came or went (found through the
SQLite index) or at an entity that appeared or vanished. A document any of whose lines changed
is rewritten whole (its chunks, NEXT_CHUNK and summaries); entities and relations are rewritten in
place (their ids encode type and ends), so nodes and edges nobody changed are never touched;
an entity's MENTIONS are replaced only when its mentions changed or their chunks were
rewritten. Entities left without a live mention and relations left without evidence or an end
are deleted, as a full load would drop them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import compress, count
from operator import ne
from pathlib import Path
from typing import Any

from kg.ontology import Ontology
from kg.store.loaded import LoadIndex
from kg.store.rows import (
    FILES,
    GraphRows,
    LineIndex,
    _Context,
    _docs_part,
    _entity,
    _gc_paused,
    _relation_info,
    _relation_row,
    _relation_verdict,
    entity_refs,
    parse_lines,
    relation_refs,
)
from kg.workspace import WorkspaceError

_ID_AT_LINE_START = b'{"id":"'


class NotIncremental(Exception):
    """The difference cannot be trusted (duplicate ids, a reordered record): load in full."""


@dataclass
class Update:
    """What an incremental load writes, and what the store holds afterwards."""

    docs: GraphRows  # rows of added and changed documents (+ skipped/warnings of the update)
    added: list[str]
    changed: list[str]
    removed: list[str]
    delete_relations: list[dict[str, str]]  # {id, head_id, tail_id}
    delete_entities: list[str]
    entities: dict[str, list[dict[str, Any]]]  # label -> rows (new or changed)
    resync: list[str]  # entities whose MENTIONS are replaced by ``mentions``
    mentions: list[dict[str, Any]]
    relations: dict[str, list[dict[str, Any]]]  # type -> rows (new or changed)
    expected: dict[str, int]
    state: dict[str, Any]  # the next loaded.json's documents/chunks/summaries
    index: LineIndex = field(default_factory=LineIndex)  # new verdicts of re-evaluated records
    forget: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()))

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.changed or self.removed or self.delete_relations
            or self.delete_entities or self.entities or self.relations or self.index.entities
            or self.index.relations
        )  # fmt: skip


class _File:
    """One input file now and as last loaded: its changed lines, and records by id on demand."""

    def __init__(self, path: Path, snapshot: Path) -> None:
        self.path = path
        self.data = path.read_bytes() if path.is_file() else b""
        old = snapshot.read_bytes() if snapshot.is_file() else b""
        self.removed, self.added = _line_diff(old.split(b"\n"), self.data.split(b"\n"))
        self._by_id: dict[str, int] | None = None

    def records(self, lines: set[bytes]) -> dict[str, dict[str, Any]]:
        """The given lines parsed, by id; NotIncremental when an id occurs twice."""
        out: dict[str, dict[str, Any]] = {}
        for record in parse_lines(sorted(lines), self.path):
            if record["id"] in out:
                raise NotIncremental(f"duplicate id {record['id']} in {self.path.name}")
            out[record["id"]] = record
        return out

    def gone(self, ids: set[str]) -> None:
        """Ids whose lines the diff found removed must really be absent now."""
        self._index_for(ids)
        for rid in ids:
            if self._start(rid) >= 0:
                raise NotIncremental(f"{rid} still has a line in {self.path.name}")

    def fetch(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        """Unchanged records by id, found by their line's opening ``{"id":"…"``."""
        self._index_for(ids)
        lines: set[bytes] = set()
        for rid in ids:
            start = self._start(rid)
            if start < 0:
                raise NotIncremental(f"{rid} not found at a line start in {self.path.name}")
            end = self.data.find(b"\n", start)
            lines.add(self.data[start : end if end >= 0 else len(self.data)])
        return self.records(lines)

    def _index_for(self, ids: set[str]) -> None:
        """Many look-ups: one pass over the file (C regex) instead of a search per id."""
        if self._by_id is None and len(ids) > 16:
            pattern = re.compile(rb'(?m)^\{"id":"([^"\\]*)"')
            self._by_id = {m.group(1).decode(): m.start() for m in pattern.finditer(self.data)}

    def _start(self, rid: str) -> int:
        if self._by_id is not None:
            return self._by_id.get(rid, -1)
        return _find_line(self.data, rid)


def _find_line(data: bytes, rid: str) -> int:
    needle = _ID_AT_LINE_START + rid.encode() + b'"'
    at = data.find(needle)
    while at > 0 and data[at - 1 : at] != b"\n":
        at = data.find(needle, at + 1)
    return at


def _line_diff(old: list[bytes], new: list[bytes]) -> tuple[set[bytes], set[bytes]]:
    """(lines only in old, lines only in new), blank lines ignored. When both files have as
    many lines (records edited in place, the common case) only the positions that differ are
    compared as sets; otherwise all lines are. A line that occurs twice in one file can make the
    positional answer report it as gone: the planner checks every id it deletes (``gone``)."""
    if len(old) == len(new):
        where = list(compress(count(), map(ne, old, new)))
        removed, added = {old[i] for i in where}, {new[i] for i in where}
    else:
        removed, added = set(old), set(new)
    common = removed & added
    removed -= common
    added -= common
    for s in (removed, added):
        s -= {ln for ln in s if not ln.strip()}
    return removed, added


def plan_update(
    workspace: Any,
    state: Mapping[str, Any],
    index: LoadIndex,
    snapshot_dir: Path,
    ontology: Ontology | None,
) -> Update | None:
    """The update from the last load (``state``, ``index``, snapshots) to the workspace, or
    None when only a full load can be trusted."""
    try:
        with _gc_paused():
            files = {n: _File(workspace.path(n), snapshot_dir / f"{n}.jsonl") for n in FILES}
            return _Planner(files, state, index, ontology).plan()
    except NotIncremental:
        return None
    except (KeyError, TypeError, IndexError) as exc:
        raise WorkspaceError(f"workspace record without a required field: {exc!r}") from exc


class _Planner:
    def __init__(
        self,
        files: dict[str, _File],
        state: Mapping[str, Any],
        index: LoadIndex,
        ontology: Ontology | None,
    ) -> None:
        self.files, self.state, self.index, self.ontology = files, state, index, ontology
        self.out = GraphRows()

    def plan(self) -> Update:
        moved, chunk_docs, counts, docs_state = self._documents()
        ctx = _Context(chunk_docs, self.ontology)
        ents = self._entities(moved, ctx)
        rels = self._relations(moved, ctx, ents)
        old = self.state["counts"]
        expected = {
            "Document": len(counts),
            "Chunk": sum(c[0] for c in counts.values()),
            "Entity": old["Entity"] + ents["entity_delta"],
            "Summary": sum(c[1] for c in counts.values()),
            "NEXT_CHUNK": sum(max(c[0] - 1, 0) for c in counts.values()),
            "MENTIONS": old["MENTIONS"] + ents["mention_delta"],
            "relations": old["relations"] + rels["delta"],
        }
        expected["FROM_DOCUMENT"], expected["SUMMARIZES"] = expected["Chunk"], expected["Summary"]
        index = LineIndex(ents["index"], rels["index"], ents["refs"] + rels["refs"])
        return Update(
            docs=self.out, added=self.added, changed=self.changed, removed=self.removed,
            delete_relations=rels["delete"], delete_entities=sorted(ents["delete"]),
            entities=ents["rows"], resync=sorted(ents["resync"]), mentions=ents["mentions"],
            relations=rels["rows"], expected={k: expected[k] for k in old},
            state=docs_state, index=index, forget=(ents["affected"], rels["affected"]),
        )  # fmt: skip

    # ---- documents, chunks, summaries ----

    def _documents(self) -> tuple[set[str], dict[str, str], dict[str, list[int]], dict[str, Any]]:
        """Rows of added and changed documents; returns (chunk ids deleted or (re)written,
        the new chunk -> document map, per-document [chunks, summaries], next state)."""
        f_docs, f_chunks, f_sums = (self.files[n] for n in ("documents", "chunks", "summaries"))
        old_counts: dict[str, list[int]] = self.state["documents"]
        old_chunks: dict[str, str] = self.state["chunks"]
        old_sums: dict[str, str] = self.state["summaries"]
        rem_docs, add_docs = f_docs.records(f_docs.removed), f_docs.records(f_docs.added)
        rem_chunks = f_chunks.records(f_chunks.removed)
        add_chunks = f_chunks.records(f_chunks.added)
        rem_sums, add_sums = f_sums.records(f_sums.removed), f_sums.records(f_sums.added)
        for f, rem, add in ((f_docs, rem_docs, add_docs), (f_chunks, rem_chunks, add_chunks),
                            (f_sums, rem_sums, add_sums)):  # fmt: skip
            f.gone(set(rem) - set(add))
        for new, rem, old_ids in ((add_docs, rem_docs, old_counts), (add_chunks, rem_chunks,
                                  old_chunks), (add_sums, rem_sums, old_sums)):  # fmt: skip
            if any(i in old_ids and i not in rem for i in new):
                raise NotIncremental("a new line repeats an id that is still loaded")
        doc_ids = (set(old_counts) - set(rem_docs)) | set(add_docs)
        touched = set(rem_docs) | set(add_docs)
        touched |= {c["doc_id"] for c in (*rem_chunks.values(), *add_chunks.values())}
        touched |= {old_chunks[c] for c in rem_chunks if c in old_chunks}
        touched |= {s["doc_id"] for s in (*rem_sums.values(), *add_sums.values())}
        touched |= {old_sums[s] for s in rem_sums if s in old_sums}
        self.removed = sorted(set(old_counts) - doc_ids)
        self.added = sorted(doc_ids - set(old_counts))
        self.changed = sorted(touched & doc_ids & set(old_counts))
        rewrite = set(self.added) | set(self.changed)
        gone = set(self.removed) | set(self.changed)
        # every record of a rewritten document: the changed lines, the rest fetched by id
        docs = {d: r for d, r in add_docs.items() if d in rewrite}
        docs |= f_docs.fetch(rewrite - set(docs))
        # unchanged lines of a rewritten document: loaded ones, and those skipped last time
        # because their document was missing (orphans)
        orphans: dict[str, dict[str, str]] = self.state["orphans"]

        def keep(held: dict[str, str], kind: str, rem: dict[str, Any]) -> set[str]:
            both = {**held, **orphans[kind]}
            return {i for i, d in both.items() if d in rewrite and i not in rem}

        chunks = f_chunks.fetch(keep(old_chunks, "chunks", rem_chunks) - set(add_chunks))
        chunks |= add_chunks
        sums = f_sums.fetch(keep(old_sums, "summaries", rem_sums) - set(add_sums)) | add_sums
        _docs_part(self.out, list(docs.values()), list(chunks.values()), list(sums.values()), None)
        moved = {c for c, d in old_chunks.items() if d in gone} | set(self.out.chunk_docs)
        chunk_docs = {c: d for c, d in old_chunks.items() if d not in gone}
        chunk_docs |= self.out.chunk_docs
        counts = {d: c for d, c in old_counts.items() if d not in gone}
        counts |= self.out.doc_counts()
        summaries = {s: d for s, d in old_sums.items() if d not in gone}
        summaries |= {s["id"]: s["doc_id"] for s in self.out.summaries}
        # orphans now: old ones still there and still without a document, plus new ones
        new_orphans: dict[str, dict[str, str]] = {}
        for kind, rem, add in (("chunks", rem_chunks, add_chunks), ("summaries", rem_sums,
                               add_sums)):  # fmt: skip
            still = {i: d for i, d in orphans[kind].items() if i not in rem and d not in doc_ids}
            still |= {i: r["doc_id"] for i, r in add.items() if r["doc_id"] not in doc_ids}
            new_orphans[kind] = still | self.out.orphans[kind]
        return moved, chunk_docs, counts, {
            "documents": counts, "chunks": chunk_docs, "summaries": summaries,
            "orphans": new_orphans,
        }  # fmt: skip

    # ---- entities ----

    def _entities(self, moved: set[str], ctx: _Context) -> dict[str, Any]:
        f = self.files["entities"]
        removed, added = f.records(f.removed), f.records(f.added)
        f.gone(set(removed) - set(added))
        old_info = self.index.entities(set(removed) | set(added))
        if any(i in old_info and i not in removed for i in added):
            raise NotIncremental("a new entity line repeats a loaded entity id")
        by_chunk, self.rel_by_chunk = self.index.referencing(moved)
        affected = set(removed) | set(added) | by_chunk
        old_info |= self.index.entities(affected - set(old_info))
        current = added | f.fetch(affected - set(added) - set(removed))
        res: dict[str, Any] = {
            "rows": {}, "mentions": [], "resync": set(), "delete": set(), "index": [],
            "refs": [], "affected": affected, "entity_delta": 0, "mention_delta": 0,
            "kept": {},
        }  # fmt: skip
        for eid in affected:
            _label, kept_old, live_old = old_info.get(eid, ("", 0, 0))
            record = current.get(eid)
            kept_new, live_new = 0, 0
            if record is not None:
                info, row, live = _entity(record, ctx)
                kept_new, live_new = int(info[2]), info[4]
                res["index"].append((eid, info[1], kept_new, live_new))
                res["refs"] += entity_refs(info)
                if kept_new:
                    res["rows"].setdefault(info[1], []).append(row)
                    if not kept_old or _mentions_changed(removed.get(eid), live, moved):
                        res["resync"].add(eid)
                        res["mentions"] += live
                else:
                    self.out.skipped["entity whose documents are gone"] += 1
            if kept_old and not kept_new:
                res["delete"].add(eid)
            if kept_old != kept_new:
                res["kept"][eid] = kept_new
            res["entity_delta"] += kept_new - kept_old
            res["mention_delta"] += (live_new if kept_new else 0) - (live_old if kept_old else 0)
        res["resync"] &= {eid for eid in res["resync"] if old_info.get(eid, ("", 0))[1]}
        return res

    # ---- relations ----

    def _relations(self, moved: set[str], ctx: _Context, ents: dict[str, Any]) -> dict[str, Any]:
        f = self.files["relations"]
        removed, added = f.records(f.removed), f.records(f.added)
        f.gone(set(removed) - set(added))
        old_info = self.index.relations(set(removed) | set(added))
        if any(i in old_info and i not in removed for i in added):
            raise NotIncremental("a new relation line repeats a loaded relation id")
        affected = set(removed) | set(added) | self.rel_by_chunk
        affected |= self.index.relations_of(ents["kept"])
        old_info |= self.index.relations(affected - set(old_info))
        current = added | f.fetch(affected - set(added) - set(removed))
        kept = _Kept(ents["kept"], self.index.entities)
        infos = {rid: _relation_info(r, ctx) for rid, r in current.items()}
        kept.preload({e for info in infos.values() for e in info[2:4]})
        res: dict[str, Any] = {"rows": {}, "delete": [], "index": [], "refs": [], "delta": 0,
                               "affected": affected}  # fmt: skip
        for rid in sorted(affected):
            _rtype, head, tail, written_old = old_info.get(rid, ("", "", "", 0))
            written_new = 0
            if rid in infos:
                info = infos[rid]
                reason = _relation_verdict(info, kept, ctx)
                written_new = int(reason is None)
                res["index"].append((rid, info[1], info[2], info[3], written_new))
                res["refs"] += relation_refs(info)
                if reason:
                    self.out.skipped[reason] += 1
                else:
                    res["rows"].setdefault(info[1], []).append(
                        _relation_row(current[rid], info, ctx)
                    )
            if written_old and not written_new:
                res["delete"].append({"id": rid, "head_id": head, "tail_id": tail})
            res["delta"] += written_new - written_old
        return res


def _mentions_changed(
    old: dict[str, Any] | None, live: list[dict[str, Any]], moved: set[str]
) -> bool:
    """Whether the entity's MENTIONS in the store differ from ``live`` (its current ones)."""
    if old is None or any(m["chunk_id"] in moved for m in live):
        return True
    mentions = old.get("mentions") or ()
    before = {(m["chunk_id"], m["start"], m["end"], m.get("text", "")) for m in mentions}
    return before != {(m["chunk_id"], m["start"], m["end"], m["text"]) for m in live}


class _Kept:
    """Is an entity kept after the update: re-evaluated ones from the plan, others from the
    index (looked up in bulk first)."""

    def __init__(self, changed: dict[str, int], lookup: Callable[[set[str]], dict[str, Any]]):
        self.changed, self.lookup = changed, lookup
        self.known: dict[str, int] = {}

    def preload(self, ids: set[str]) -> None:
        missing = ids - set(self.changed) - set(self.known)
        found = self.lookup(missing)
        self.known |= {i: found[i][1] if i in found else 0 for i in missing}

    def __contains__(self, eid: object) -> bool:
        if eid in self.changed:
            return bool(self.changed[eid])  # type: ignore[index]
        if eid not in self.known:
            self.preload({str(eid)})
        return bool(self.known[eid])  # type: ignore[index]
