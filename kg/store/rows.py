"""The workspace graph as parameter rows for ``cypher/upsert/*`` — shared by the loader, the
exporter and the benchmark, so all three agree on what "the graph" is.

Rows that cannot be written faithfully are dropped with a counted reason instead of failing
a MATCH silently: chunks of unknown documents, mentions of unknown chunks, entities whose
every mention points at a chunk that is gone (only deleted documents supported them), and
relations whose ends or evidence are gone.

Besides the rows, a build records what the incremental loader (kg.store.diff) needs to know
about each entity and relation line later without re-reading it: kept or not, how many live
mentions, and which chunks it points at (``index``).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
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


def _dumps(obj: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _loads(line: bytes) -> Any:
    return orjson.loads(line) if orjson is not None else json.loads(line)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class LineIndex:
    """Per entity/relation record, what was decided at load time (kg.store.loaded keeps it)."""

    entities: list[tuple[str, str, int, int]] = field(default_factory=list)  # id, label, kept, live
    # id, type ("" when not in the ontology), head, tail, written
    relations: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    refs: list[tuple[str, int, str]] = field(default_factory=list)  # chunk id, ENTITY|RELATION, id


ENTITY, RELATION = 0, 1


@dataclass
class GraphRows:
    documents: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    next: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[dict[str, Any]] = field(default_factory=list)
    entity_embeddings: list[dict[str, Any]] = field(default_factory=list)  # filled by the export
    entities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # label -> rows
    mentions: list[dict[str, Any]] = field(default_factory=list)
    relations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # type -> rows
    chunk_docs: dict[str, str] = field(default_factory=dict)  # chunk id -> document id
    # "chunks"/"summaries": id -> document id of the lines skipped for a missing document
    orphans: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"chunks": {}, "summaries": {}}
    )
    index: LineIndex = field(default_factory=lambda: LineIndex())
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def expected(self) -> dict[str, int]:
        """What the store must hold after loading these rows (keys of GraphStore.counts)."""
        return {
            "Document": len(self.documents),
            "Chunk": len(self.chunks),
            "Entity": sum(len(v) for v in self.entities.values()),
            "Summary": len(self.summaries),
            "FROM_DOCUMENT": len(self.chunks),
            "NEXT_CHUNK": len(self.next),
            "MENTIONS": len(self.mentions),
            "SUMMARIZES": len(self.summaries),
            "relations": sum(len(v) for v in self.relations.values()),
        }

    def doc_counts(self) -> dict[str, list[int]]:
        """Per document: [chunks, summaries] (the incremental loader sums these)."""
        counts: dict[str, list[int]] = {d["id"]: [0, 0] for d in self.documents}
        for c in self.chunks:
            counts[c["doc_id"]][0] += 1
        for s in self.summaries:
            counts[s["doc_id"]][1] += 1
        return counts


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


def _docs_part(
    out: GraphRows,
    documents: list[Record],
    chunks: list[Record],
    summaries: list[Record],
    embeddings: Mapping[str, Sequence[float]] | None,
) -> dict[str, Record]:
    """Documents, chunks, NEXT_CHUNK, summaries and embeddings (all of a document's:
    NEXT_CHUNK pairs its consecutive chunks). Returns chunk id -> chunk."""
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
            out.orphans["chunks"][c["id"]] = c["doc_id"]
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
    for s in {s["id"]: s for s in summaries}.values():
        if s["doc_id"] not in docs:
            out.skipped["summary of an unknown document"] += 1
            out.orphans["summaries"][s["id"]] = s["doc_id"]
            continue
        out.summaries.append(
            {"id": s["id"], "doc_id": s["doc_id"], "level": s["level"], "text": s["text"],
             "source_chunk_ids": s.get("source_chunk_ids", []),
             "source_summary_ids": s.get("source_summary_ids", [])}
        )  # fmt: skip
    if embeddings:
        for cid in out.chunk_docs:
            if cid in embeddings:
                out.embeddings.append({"id": cid, "embedding": embeddings[cid]})
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


def _relation_verdict(
    info: list[Any], kept_entities: Container[str], ctx: _Context
) -> str | None:
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
            "description": r.get("description", ""), "predicate": r.get("predicate")}  # fmt: skip


def entity_refs(info: list[Any]) -> list[tuple[str, int, str]]:
    return [(c, ENTITY, info[0]) for c in _unique(info[3])]


def relation_refs(info: list[Any]) -> list[tuple[str, int, str]]:
    return [(c, RELATION, info[0]) for c in info[4]]


def _entities_part(out: GraphRows, entities: list[Record], ctx: _Context) -> set[str]:
    """Entity rows and their live mentions; returns the ids of the entities kept."""
    kept: set[str] = set()
    odd_types: Counter[str] = Counter()
    index = out.index
    for e in {e["id"]: e for e in entities}.values():
        info, row, live = _entity(e, ctx)
        index.entities.append((info[0], info[1], int(info[2]), info[4]))
        index.refs += entity_refs(info)
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
    return kept


def _relations_part(
    out: GraphRows, relations: list[Record], kept: Container[str], ctx: _Context
) -> None:
    index = out.index
    for r in {r["id"]: r for r in relations}.values():
        info = _relation_info(r, ctx)
        reason = _relation_verdict(info, kept, ctx)
        index.relations.append((info[0], info[1], info[2], info[3], int(reason is None)))
        index.refs += relation_refs(info)
        if reason:
            out.skipped[reason] += 1
        else:
            out.relations.setdefault(info[1], []).append(_relation_row(r, info, ctx))


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
    kept = _entities_part(out, entities, ctx)
    _relations_part(out, relations, kept, ctx)
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


def parse_lines(lines: Iterable[bytes], where: Any = "") -> list[dict[str, Any]]:
    """JSONL lines as dicts (fast path: the workspace writers validated them)."""
    out: list[dict[str, Any]] = []
    with _gc_paused():
        for n, line in enumerate(lines, 1):
            if line.strip():
                try:
                    out.append(_loads(line))
                except ValueError as exc:
                    raise WorkspaceError(f"{where}:{n}: invalid record: {exc}") from exc
    return out


def read_records(workspace: Any, name: str) -> list[dict[str, Any]]:
    """One workspace JSONL file as dicts."""
    path = workspace.path(name)
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        return parse_lines(fh, path)


def rows_from_workspace(
    workspace: Any,
    *,
    ontology: Ontology | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> GraphRows:
    """Read the workspace JSONL files and build their rows."""
    stages = staged_rows(workspace, ontology=ontology, embeddings=embeddings)
    return [rows for _stage, rows in stages][-1]


def staged_rows(
    workspace: Any,
    *,
    ontology: Ontology | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> Iterator[tuple[str, GraphRows]]:
    """The workspace rows in three stages — "documents" (with chunks, NEXT_CHUNK, summaries),
    "entities" (with mentions), "relations" — all filling one GraphRows, so that the loader
    can send one stage while it reads and builds the next."""
    if ontology is None:
        ontology = workspace_ontology(workspace)
    out = GraphRows()
    try:
        with _gc_paused():
            docs = [read_records(workspace, n) for n in ("documents", "chunks", "summaries")]
            _docs_part(out, *docs, embeddings)
            del docs
        yield "documents", out
        ctx = _Context(out.chunk_docs, ontology)
        with _gc_paused():
            kept = _entities_part(out, read_records(workspace, "entities"), ctx)
        yield "entities", out
        with _gc_paused():
            _relations_part(out, read_records(workspace, "relations"), kept, ctx)
        yield "relations", out
    except (KeyError, TypeError) as exc:
        raise WorkspaceError(f"workspace record without a required field: {exc!r}") from exc


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
