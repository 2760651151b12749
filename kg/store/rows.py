"""The workspace graph as parameter rows for ``cypher/upsert/*`` — shared by the loader, the
exporter and the benchmark, so all three agree on what "the graph" is.

Rows that cannot be written faithfully are dropped with a counted reason instead of failing
a MATCH silently: chunks of unknown documents, mentions of unknown chunks, entities whose
every mention points at a chunk that is gone (only deleted documents supported them), and
relations whose ends or evidence are gone.

``plan_update`` diffs a workspace against the previous load's state without re-reading the
big files: entity and relation lines are recognised by the digest of their raw JSONL bytes.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kg.ontology import _LABEL, _REL, Ontology
from kg.workspace import WorkspaceError

try:  # ~10x faster than json for the 100k-line files of a large workspace
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]


Record = Mapping[str, Any]
FILES = ("documents", "chunks", "entities", "relations", "summaries")
LINE_DIGEST = "__line_digest"  # set by read_records: a digest of the record's raw JSONL line


def _dumps(obj: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _loads(line: bytes) -> Any:
    return orjson.loads(line) if orjson is not None else json.loads(line)


def _digest(obj: Any) -> str:
    return hashlib.blake2b(_dumps(obj), digest_size=12).hexdigest()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class GraphRows:
    documents: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    next: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[dict[str, Any]] = field(default_factory=list)
    entities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # label -> rows
    mentions: list[dict[str, Any]] = field(default_factory=list)
    relations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # type -> rows
    doc_hashes: dict[str, str] = field(default_factory=dict)
    chunk_docs: dict[str, str] = field(default_factory=dict)  # chunk id -> document id
    # per JSONL line digest, what the loader needs to diff without re-reading the line:
    # entities: [id, label, kept, chunk id of each distinct mention, live mentions]
    entity_lines: dict[str, list[Any]] = field(default_factory=dict)
    # relations: [id, type ("" if not in the ontology), head, tail, evidence chunk ids, kept]
    relation_lines: dict[str, list[Any]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def expected(self) -> dict[str, int]:
        """What the store must hold after loading these rows (keys of GraphStore.counts)."""
        return {
            "Document": len(self.documents),
            "Chunk": len(self.chunks),
            "Entity": sum(len(v) for v in self.entities.values()),
            "Summary": len(self.summaries),
            "HAS_CHUNK": len(self.chunks),
            "NEXT": len(self.next),
            "MENTIONS": len(self.mentions),
            "SUMMARIZES": len(self.summaries),
            "relations": sum(len(v) for v in self.relations.values()),
        }

    def for_documents(self, doc_ids: set[str]) -> GraphRows:
        """Only the document-owned rows (document, chunks, NEXT, summaries, embeddings)."""
        chunk_ids = {c["id"] for c in self.chunks if c["doc_id"] in doc_ids}
        return GraphRows(
            documents=[d for d in self.documents if d["id"] in doc_ids],
            chunks=[c for c in self.chunks if c["id"] in chunk_ids],
            next=[n for n in self.next if n["prev_id"] in chunk_ids],
            summaries=[s for s in self.summaries if s["doc_id"] in doc_ids],
            embeddings=[e for e in self.embeddings if e["id"] in chunk_ids],
        )


def entity_label(type_: str, ontology: Ontology | None) -> str:
    """The Cypher label for an entity type: the ontology's name, else its fallback type."""
    if ontology is None:
        return type_ if _LABEL.match(type_) else "Concept"
    if ontology.entity_type(type_) is not None:
        return type_
    return ontology.canonical_entity_type(type_) or ontology.fallback_entity_type


def relation_type(type_: str, ontology: Ontology | None) -> str | None:
    if ontology is None:
        return type_ if _REL.match(type_) else None
    if ontology.relation_type(type_) is not None:
        return type_
    return ontology.canonical_relation_type(type_)


def _plain(items: Iterable[Any]) -> list[Record]:
    return [i if type(i) is dict else i.model_dump() for i in items]


def build_rows(
    documents: Iterable[Any],
    chunks: Iterable[Any],
    entities: Iterable[Any],
    relations: Iterable[Any],
    summaries: Iterable[Any],
    *,
    ontology: Ontology | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> GraphRows:
    """Rows from kg.models objects or their JSON dicts (the loader reads raw JSONL: parsing
    150k records through Pydantic would dominate an incremental load)."""
    # building ~10^5 small dicts: the cyclic GC would rescan them all, again and again
    try:
        with _gc_paused():
            return _build(
                _plain(documents), _plain(chunks), _plain(entities), _plain(relations),
                _plain(summaries), ontology, embeddings,
            )  # fmt: skip
    except (KeyError, TypeError) as exc:
        raise WorkspaceError(f"workspace record without a required field: {exc!r}") from exc


def _line(record: Record) -> str:
    return str(record.get(LINE_DIGEST) or _digest({k: v for k, v in record.items()}))


def _docs_part(
    out: GraphRows,
    documents: list[Record],
    chunks: list[Record],
    summaries: list[Record],
    embeddings: Mapping[str, Sequence[float]] | None,
) -> dict[str, Record]:
    """Documents, chunks, NEXT, summaries, embeddings and each document's hash (what the
    loader rewrites when anything of the document changed). Returns chunk id -> chunk."""
    docs = {d["id"]: d for d in documents}
    out.documents = [
        {"id": d["id"], "path": d["path"], "title": d["title"], "chars": d["chars"],
         "sha256": d["sha256"], "format": d.get("format", "text")}
        for d in docs.values()
    ]  # fmt: skip
    by_id: dict[str, Record] = {}
    for c in chunks:
        if c["doc_id"] in docs:
            by_id[c["id"]] = c
        else:
            out.skipped["chunk of an unknown document"] += 1
    ordered = sorted(by_id.values(), key=lambda c: (c["doc_id"], c["index"], c["start"]))
    out.chunks = [
        {"id": c["id"], "doc_id": c["doc_id"], "index": c["index"], "start": c["start"],
         "end": c["end"], "text": c["text"]}
        for c in ordered
    ]  # fmt: skip
    out.chunk_docs = {c["id"]: c["doc_id"] for c in ordered}
    for a, b in itertools.pairwise(ordered):
        if a["doc_id"] == b["doc_id"]:
            out.next.append({"prev_id": a["id"], "next_id": b["id"]})
    owned: dict[str, list[str]] = defaultdict(list)
    for d in docs.values():
        owned[d["id"]].append(_line(d))
    for c in ordered:
        owned[c["doc_id"]].append(_line(c))
    for s in {s["id"]: s for s in summaries}.values():
        if s["doc_id"] not in docs:
            out.skipped["summary of an unknown document"] += 1
            continue
        out.summaries.append(
            {"id": s["id"], "doc_id": s["doc_id"], "level": s["level"], "text": s["text"],
             "source_chunk_ids": s.get("source_chunk_ids", []),
             "source_summary_ids": s.get("source_summary_ids", [])}
        )  # fmt: skip
        owned[s["doc_id"]].append(_line(s))
    if embeddings:
        for cid in out.chunk_docs:
            if cid in embeddings:
                vector = [float(x) for x in embeddings[cid]]
                out.embeddings.append({"id": cid, "embedding": vector})
                owned[out.chunk_docs[cid]].append(_digest(vector))
    out.doc_hashes = {doc_id: _digest(lines) for doc_id, lines in owned.items()}
    return by_id


class _Context:
    """What evaluating one entity or relation line depends on."""

    def __init__(self, chunk_docs: Mapping[str, str], ontology: Ontology | None) -> None:
        self.chunk_docs, self.ontology = chunk_docs, ontology
        self.labels: dict[str, str] = {}
        self.rtypes: dict[str, str] = {}

    def label(self, etype: str) -> str:
        if etype not in self.labels:
            self.labels[etype] = entity_label(etype, self.ontology)
        return self.labels[etype]

    def rtype(self, raw: str) -> str:
        if raw not in self.rtypes:
            self.rtypes[raw] = relation_type(raw, self.ontology) or ""
        return self.rtypes[raw]


def _entity(e: Record, ctx: _Context) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
    """(line info, entity row, live mention rows) for one entity record."""
    eid = e["id"]
    seen: set[tuple[str, int, int]] = set()
    mention_chunks: list[str] = []
    live: list[dict[str, Any]] = []
    for m in e.get("mentions") or ():
        key = (m["chunk_id"], m["start"], m["end"])
        if key in seen:
            continue
        seen.add(key)
        mention_chunks.append(key[0])
        if key[0] in ctx.chunk_docs:
            live.append({"chunk_id": key[0], "entity_id": eid, "start": key[1], "end": key[2],
                         "text": m.get("text", "")})  # fmt: skip
    kept = not mention_chunks or bool(live)
    label = ctx.label(e["type"])
    row = {"id": eid, "name": e["name"], "type": e["type"], "aliases": e.get("aliases", []),
           "description": e.get("description", ""), "source": e.get("source", "")}  # fmt: skip
    return [eid, label, kept, mention_chunks, len(live)], row, live


def _relation_info(r: Record, ctx: _Context) -> list[Any]:
    evidence = r.get("evidence") or ()
    chunks = (
        [evidence[0]["chunk_id"]]
        if len(evidence) == 1
        else _unique(ev["chunk_id"] for ev in evidence)
    )
    return [r["id"], ctx.rtype(r["type"]), r["head_id"], r["tail_id"], chunks, False]


def _relation_verdict(info: list[Any], kept_entities: set[str], ctx: _Context) -> str | None:
    """Why the relation is not written (None: it is)."""
    _rid, rtype, head, tail, chunks = info[:5]
    if not rtype:
        return "relation type not in the ontology"
    if head not in kept_entities or tail not in kept_entities:
        return "relation to a missing entity"
    if chunks and not any(c in ctx.chunk_docs for c in chunks):
        return "relation whose evidence is gone"
    return None


def _relation_row(r: Record, info: list[Any], ctx: _Context) -> dict[str, Any]:
    live = [c for c in info[4] if c in ctx.chunk_docs]
    return {"id": info[0], "head_id": info[2], "tail_id": info[3], "chunk_ids": live,
            "doc_ids": _unique(ctx.chunk_docs[c] for c in live),
            "confidence": float(r.get("confidence", 0.5)), "extractor": r.get("extractor", ""),
            "description": r.get("description", "")}  # fmt: skip


def _build(
    documents: list[Record],
    chunks: list[Record],
    entities: list[Record],
    relations: list[Record],
    summaries: list[Record],
    ontology: Ontology | None,
    embeddings: Mapping[str, Sequence[float]] | None,
) -> GraphRows:
    out = GraphRows()
    _docs_part(out, documents, chunks, summaries, embeddings)
    ctx = _Context(out.chunk_docs, ontology)
    kept: set[str] = set()
    odd_types: Counter[str] = Counter()
    for e in {e["id"]: e for e in entities}.values():
        info, row, live = _entity(e, ctx)
        out.entity_lines[_line(e)] = info
        if not info[2]:
            out.skipped["entity whose documents are gone"] += 1
            continue
        if info[1] != e["type"]:
            odd_types[e["type"]] += 1
        out.entities.setdefault(info[1], []).append(row)
        out.mentions += live
        kept.add(info[0])
    for t, n in odd_types.items():
        out.warnings.append(f"{n} entities of type {t!r} (not in the ontology) got another label")
    for r in {r["id"]: r for r in relations}.values():
        info = _relation_info(r, ctx)
        reason = _relation_verdict(info, kept, ctx)
        info[5] = reason is None
        out.relation_lines[_line(r)] = info
        if reason:
            out.skipped[reason] += 1
        else:
            out.relations.setdefault(info[1], []).append(_relation_row(r, info, ctx))
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def read_records(workspace: Any, name: str) -> list[dict[str, Any]]:
    """One workspace JSONL file as dicts (fast path; the writers validated them)."""
    path = workspace.path(name)
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    with _gc_paused(), path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    record = _loads(line)
                    record[LINE_DIGEST] = hashlib.blake2b(line, digest_size=12).hexdigest()
                    out.append(record)
                except ValueError as exc:
                    raise WorkspaceError(f"{path}:{n}: invalid record: {exc}") from exc
    return out


def rows_from_workspace(
    workspace: Any,
    *,
    ontology: Ontology | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> GraphRows:
    """Read the workspace JSONL files and build their rows."""
    if ontology is None:
        ontology = workspace_ontology(workspace)
    return build_rows(
        *(read_records(workspace, n) for n in FILES),
        ontology=ontology,
        embeddings=embeddings,
    )


def workspace_ontology(workspace: Any) -> Ontology | None:
    """The ontology named in the workspace manifest (default when there is no manifest)."""
    from kg.ontology import load_ontology

    name = "default"
    try:
        if workspace.exists():
            name = workspace.manifest().ontology or "default"
    except Exception:  # a broken manifest: rows still get regex-checked labels
        return None
    try:
        return load_ontology(name)
    except (FileNotFoundError, ValueError):
        return None


# ---- incremental: diff the workspace against what the last load wrote ----


@dataclass
class Update:
    """What an incremental load writes, and what the store holds afterwards."""

    docs: GraphRows  # rows of added and changed documents
    added: list[str]
    changed: list[str]
    removed: list[str]
    delete_relations: list[dict[str, str]]  # {id, head_id, tail_id}
    delete_entities: list[str]
    entities: dict[str, list[dict[str, Any]]]  # label -> rows (new or re-evaluated)
    mentions: list[dict[str, Any]]  # the live mentions of those entities (replacing theirs)
    relations: dict[str, list[dict[str, Any]]]  # type -> rows (new or re-evaluated)
    expected: dict[str, int]
    rows: GraphRows  # document rows + line infos: the next state
    empty: bool = False

    @property
    def resync_ids(self) -> list[str]:
        return [r["id"] for rows in self.entities.values() for r in rows]


def _raw_lines(workspace: Any, name: str) -> list[tuple[str, bytes]]:
    path = workspace.path(name)
    if not path.is_file():
        return []
    with _gc_paused(), path.open("rb") as fh:
        return [
            (hashlib.blake2b(line, digest_size=12).hexdigest(), line) for line in fh if line.strip()
        ]


def plan_update(
    workspace: Any,
    state: Mapping[str, Any],
    *,
    ontology: Ontology | None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> Update | None:
    """The difference between the workspace and the last load (``state``), reading in full only
    the small files (documents, chunks, summaries). Entity and relation lines already loaded are
    recognised by their digest and not parsed unless a chunk they point at came or went.
    None when the diff cannot be trusted (duplicate ids): the caller then loads in full."""
    try:
        with _gc_paused():
            return _plan(workspace, state, ontology, embeddings)
    except (KeyError, TypeError, IndexError) as exc:
        raise WorkspaceError(f"workspace record without a required field: {exc!r}") from exc


def _plan(
    workspace: Any,
    state: Mapping[str, Any],
    ontology: Ontology | None,
    embeddings: Mapping[str, Sequence[float]] | None,
) -> Update | None:
    out = GraphRows()
    _docs_part(
        out, read_records(workspace, "documents"), read_records(workspace, "chunks"),
        read_records(workspace, "summaries"), embeddings,
    )  # fmt: skip
    ctx = _Context(out.chunk_docs, ontology)
    old_docs: dict[str, str] = state["documents"]
    added = sorted(set(out.doc_hashes) - set(old_docs))
    removed = sorted(set(old_docs) - set(out.doc_hashes))
    changed = sorted(d for d, h in out.doc_hashes.items() if d in old_docs and old_docs[d] != h)
    # chunks of changed documents are deleted and re-created, like those that came or went
    moved = set(state["chunks"]).symmetric_difference(out.chunk_docs)
    changed_docs = set(changed)
    moved |= {c for c, d in out.chunk_docs.items() if d in changed_docs}

    old_entities: dict[str, list[Any]] = state["entity_lines"]
    entities: dict[str, list[dict[str, Any]]] = {}
    mentions: list[dict[str, Any]] = []
    seen: set[str] = set()
    odd_types: Counter[str] = Counter()
    for digest, line in _raw_lines(workspace, "entities"):
        info = old_entities.get(digest)
        if info is None or not moved.isdisjoint(info[3]):
            record = _loads(line)
            info, row, live = _entity(record, ctx)
            if info[2]:
                entities.setdefault(info[1], []).append(row)
                mentions += live
                if info[1] != record["type"]:
                    odd_types[record["type"]] += 1
        if info[0] in seen:
            return None
        seen.add(info[0])
        out.entity_lines[digest] = info
        if not info[2]:
            out.skipped["entity whose documents are gone"] += 1
    for t, n in odd_types.items():
        out.warnings.append(f"{n} entities of type {t!r} (not in the ontology) got another label")
    kept = {info[0] for info in out.entity_lines.values() if info[2]}
    was_kept = {info[0] for info in old_entities.values() if info[2]}
    delete_entities = sorted(was_kept - kept)

    old_relations: dict[str, list[Any]] = state["relation_lines"]
    relations: dict[str, list[dict[str, Any]]] = {}
    rewrite: set[str] = set()
    live_ids: set[str] = set()
    seen.clear()
    for digest, line in _raw_lines(workspace, "relations"):
        known = old_relations.get(digest)
        if (
            known is not None
            and known[5]
            and known[2] in kept
            and known[3] in kept
            and moved.isdisjoint(known[4])
        ):  # the common case: loaded before, still valid, nothing to write
            if known[0] in seen:
                return None
            seen.add(known[0])
            live_ids.add(known[0])
            out.relation_lines[digest] = known
            continue
        record = None
        if known is None:
            record = _loads(line)
            info = _relation_info(record, ctx)
        else:
            info = [*known[:5], False]
        if info[0] in seen:
            return None
        seen.add(info[0])
        reason = _relation_verdict(info, kept, ctx)
        info[5] = reason is None
        out.relation_lines[digest] = info
        if reason:
            out.skipped[reason] += 1
            continue
        live_ids.add(info[0])
        if known is not None and known[5] and moved.isdisjoint(info[4]):
            continue  # loaded before, unchanged, same evidence
        record = record if record is not None else _loads(line)
        relations.setdefault(info[1], []).append(_relation_row(record, info, ctx))
        rewrite.add(info[0])
    delete_relations = sorted(
        (
            {"id": info[0], "head_id": info[2], "tail_id": info[3]}
            for info in old_relations.values()
            if info[5] and (info[0] not in live_ids or info[0] in rewrite)
        ),
        key=lambda r: r["id"],
    )
    docs = out.for_documents(set(added) | changed_docs)
    expected = {
        "Document": len(out.documents),
        "Chunk": len(out.chunks),
        "Entity": len(kept),
        "Summary": len(out.summaries),
        "HAS_CHUNK": len(out.chunks),
        "NEXT": len(out.next),
        "MENTIONS": sum(info[4] for info in out.entity_lines.values() if info[2]),
        "SUMMARIZES": len(out.summaries),
        "relations": len(live_ids),
    }
    empty = not (added or removed or changed or delete_entities or entities or delete_relations
                 or relations)  # fmt: skip
    return Update(
        docs=docs, added=added, changed=changed, removed=removed,
        delete_relations=delete_relations, delete_entities=delete_entities,
        entities=entities, mentions=mentions, relations=relations,
        expected=expected, rows=out, empty=empty,
    )  # fmt: skip
