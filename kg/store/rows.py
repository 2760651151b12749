"""The workspace graph as parameter rows for ``cypher/upsert/*`` — shared by the loader, the
exporter and the benchmark, so all three agree on what "the graph" is.

Rows that cannot be written faithfully are dropped with a counted reason instead of failing
a MATCH silently: chunks of unknown documents, mentions of unknown chunks, entities whose
every mention points at a chunk that is gone (only deleted documents supported them), and
relations whose ends or evidence are gone.
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
    entity_hashes: dict[str, str] = field(default_factory=dict)
    relation_keys: dict[str, list[str]] = field(default_factory=dict)  # id -> [hash, head, tail]
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
        """Only the document-owned rows (document, chunks, links, summaries, mentions)."""
        chunk_ids = {c["id"] for c in self.chunks if c["doc_id"] in doc_ids}
        return GraphRows(
            documents=[d for d in self.documents if d["id"] in doc_ids],
            chunks=[c for c in self.chunks if c["id"] in chunk_ids],
            next=[n for n in self.next if n["prev_id"] in chunk_ids],
            summaries=[s for s in self.summaries if s["doc_id"] in doc_ids],
            embeddings=[e for e in self.embeddings if e["id"] in chunk_ids],
            mentions=[m for m in self.mentions if m["chunk_id"] in chunk_ids],
        )

    def only_entities(self, ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        picked = {k: [r for r in v if r["id"] in ids] for k, v in self.entities.items()}
        return {k: v for k, v in picked.items() if v}

    def only_relations(self, ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        picked = {k: [r for r in v if r["id"] in ids] for k, v in self.relations.items()}
        return {k: v for k, v in picked.items() if v}


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
    for a, b in itertools.pairwise(ordered):
        if a["doc_id"] == b["doc_id"]:
            out.next.append({"prev_id": a["id"], "next_id": b["id"]})

    for s in {s["id"]: s for s in summaries}.values():
        if s["doc_id"] not in docs:
            out.skipped["summary of an unknown document"] += 1
            continue
        out.summaries.append(
            {"id": s["id"], "doc_id": s["doc_id"], "level": s["level"], "text": s["text"],
             "source_chunk_ids": s.get("source_chunk_ids", []),
             "source_summary_ids": s.get("source_summary_ids", [])}
        )  # fmt: skip

    if embeddings:
        out.embeddings = [
            {"id": cid, "embedding": [float(x) for x in embeddings[cid]]}
            for cid in by_id
            if cid in embeddings
        ]

    kept: set[str] = set()
    mention_keys: set[tuple[str, str, int, int]] = set()
    odd_types: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for e in {e["id"]: e for e in entities}.values():
        eid, etype = e["id"], e["type"]
        mentions = e.get("mentions") or []
        live = [m for m in mentions if m["chunk_id"] in by_id]
        if mentions and not live:
            out.skipped["entity whose documents are gone"] += 1
            continue
        label = labels.get(etype) or labels.setdefault(etype, entity_label(etype, ontology))
        if label != etype:
            odd_types[etype] += 1
        row = {"id": eid, "name": e["name"], "type": etype, "aliases": e.get("aliases", []),
               "description": e.get("description", ""), "source": e.get("source", "")}  # fmt: skip
        out.entities.setdefault(label, []).append(row)
        line = e.get(LINE_DIGEST) or _digest(row)  # the raw line's digest is cheaper
        out.entity_hashes[eid] = f"{label}:{line}"  # the loader compares labels
        kept.add(eid)
        for m in live:
            key = (m["chunk_id"], eid, m["start"], m["end"])
            if key not in mention_keys:
                mention_keys.add(key)
                out.mentions.append(
                    {"chunk_id": m["chunk_id"], "entity_id": eid, "start": m["start"],
                     "end": m["end"], "text": m.get("text", "")}
                )  # fmt: skip
    for t, n in odd_types.items():
        out.warnings.append(f"{n} entities of type {t!r} (not in the ontology) got another label")

    rtypes: dict[str, str | None] = {}
    for r in {r["id"]: r for r in relations}.values():
        raw_type = r["type"]
        if raw_type not in rtypes:
            rtypes[raw_type] = relation_type(raw_type, ontology)
        rtype = rtypes[raw_type]
        if rtype is None:
            out.skipped[f"relation type {raw_type!r} not in the ontology"] += 1
            continue
        head, tail = r["head_id"], r["tail_id"]
        if head not in kept or tail not in kept:
            out.skipped["relation to a missing entity"] += 1
            continue
        evidence = r.get("evidence") or []
        if len(evidence) == 1:  # the common case, without the dedup machinery
            cid = evidence[0]["chunk_id"]
            chunk_ids = [cid] if cid in by_id else []
        else:
            chunk_ids = _unique(ev["chunk_id"] for ev in evidence if ev["chunk_id"] in by_id)
        if evidence and not chunk_ids:
            out.skipped["relation whose evidence is gone"] += 1
            continue
        row = {"id": r["id"], "head_id": head, "tail_id": tail, "chunk_ids": chunk_ids,
               "doc_ids": (_unique(by_id[c]["doc_id"] for c in chunk_ids) if len(chunk_ids) > 1
                           else [by_id[c]["doc_id"] for c in chunk_ids]),
               "confidence": float(r.get("confidence", 0.5)),
               "extractor": r.get("extractor", ""),
               "description": r.get("description", "")}  # fmt: skip
        out.relations.setdefault(rtype, []).append(row)
        digest = r.get(LINE_DIGEST) or _digest(row)
        if len(chunk_ids) < len(evidence):  # some evidence is gone: what is written changed
            digest += _digest(chunk_ids)
        out.relation_keys[r["id"]] = [f"{rtype}:{digest}", head, tail]

    # what was loaded for each document: any change here rewrites that document's subgraph
    owned: dict[str, list[Any]] = defaultdict(list)
    chunk_doc = {c["id"]: c["doc_id"] for c in out.chunks}
    for d in out.documents:
        owned[d["id"]].append(d)
    for kind in ("chunks", "summaries"):
        for row in getattr(out, kind):
            owned[row["doc_id"]].append(row)
    for n in out.next:
        owned[chunk_doc[n["prev_id"]]].append(n)
    for m in out.mentions:  # in file order: a reordered file only costs a rewrite
        owned[chunk_doc[m["chunk_id"]]].append(m)
    for e in out.embeddings:
        owned[chunk_doc[e["id"]]].append(e)
    out.doc_hashes = {doc_id: _digest(rows) for doc_id, rows in owned.items()}
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
