"""The workspace graph as parameter rows for ``cypher/upsert/*`` — shared by the loader, the
exporter and the benchmark, so all three agree on what "the graph" is.

Rows that cannot be written faithfully are dropped with a counted reason instead of failing
a MATCH silently: chunks of unknown documents, mentions of unknown chunks, entities whose
every mention points at a chunk that is gone (only deleted documents supported them), and
relations whose ends or evidence are gone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kg.models import Chunk, Document, Entity, Relation, Summary
from kg.ontology import _LABEL, _REL, Ontology


def _digest(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:24]


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


def build_rows(
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    entities: Sequence[Entity],
    relations: Sequence[Relation],
    summaries: Sequence[Summary],
    *,
    ontology: Ontology | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> GraphRows:
    out = GraphRows()
    docs = {d.id: d for d in documents}
    out.documents = [
        {"id": d.id, "path": d.path, "title": d.title, "chars": d.chars, "sha256": d.sha256,
         "format": d.format}
        for d in docs.values()
    ]  # fmt: skip

    by_id: dict[str, Chunk] = {}
    for c in chunks:
        if c.doc_id in docs:
            by_id[c.id] = c
        else:
            out.skipped["chunk of an unknown document"] += 1
    ordered = sorted(by_id.values(), key=lambda c: (c.doc_id, c.index, c.start))
    out.chunks = [
        {"id": c.id, "doc_id": c.doc_id, "index": c.index, "start": c.start, "end": c.end,
         "text": c.text}
        for c in ordered
    ]  # fmt: skip
    for a, b in itertools.pairwise(ordered):
        if a.doc_id == b.doc_id:
            out.next.append({"prev_id": a.id, "next_id": b.id})

    for s in {s.id: s for s in summaries}.values():
        if s.doc_id not in docs:
            out.skipped["summary of an unknown document"] += 1
            continue
        out.summaries.append(
            {"id": s.id, "doc_id": s.doc_id, "level": s.level, "text": s.text,
             "source_chunk_ids": s.source_chunk_ids, "source_summary_ids": s.source_summary_ids}
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
    for e in {e.id: e for e in entities}.values():
        live = [m for m in e.mentions if m.chunk_id in by_id]
        if e.mentions and not live:
            out.skipped["entity whose documents are gone"] += 1
            continue
        label = entity_label(e.type, ontology)
        if label != e.type:
            odd_types[e.type] += 1
        row = {"id": e.id, "name": e.name, "type": e.type, "aliases": e.aliases,
               "description": e.description, "source": e.source}  # fmt: skip
        out.entities.setdefault(label, []).append(row)
        out.entity_hashes[e.id] = f"{label}:{_digest(row)}"  # the loader compares labels
        kept.add(e.id)
        for m in live:
            key = (m.chunk_id, e.id, m.start, m.end)
            if key not in mention_keys:
                mention_keys.add(key)
                out.mentions.append(
                    {"chunk_id": m.chunk_id, "entity_id": e.id, "start": m.start, "end": m.end,
                     "text": m.text}
                )  # fmt: skip
    for t, n in odd_types.items():
        out.warnings.append(f"{n} entities of type {t!r} (not in the ontology) got another label")

    for r in {r.id: r for r in relations}.values():
        rtype = relation_type(r.type, ontology)
        if rtype is None:
            out.skipped[f"relation type {r.type!r} not in the ontology"] += 1
            continue
        if r.head_id not in kept or r.tail_id not in kept:
            out.skipped["relation to a missing entity"] += 1
            continue
        chunk_ids = _unique(ev.chunk_id for ev in r.evidence if ev.chunk_id in by_id)
        if r.evidence and not chunk_ids:
            out.skipped["relation whose evidence is gone"] += 1
            continue
        row = {"id": r.id, "head_id": r.head_id, "tail_id": r.tail_id, "chunk_ids": chunk_ids,
               "doc_ids": _unique(by_id[c].doc_id for c in chunk_ids),
               "confidence": float(r.confidence), "extractor": r.extractor,
               "description": r.description}  # fmt: skip
        out.relations.setdefault(rtype, []).append(row)
        out.relation_keys[r.id] = [_digest([rtype, row]), r.head_id, r.tail_id]

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
    for m in sorted(out.mentions, key=lambda m: (m["chunk_id"], m["entity_id"], m["start"])):
        owned[chunk_doc[m["chunk_id"]]].append(m)
    for e in out.embeddings:
        owned[chunk_doc[e["id"]]].append(e)
    out.doc_hashes = {doc_id: _digest(rows) for doc_id, rows in owned.items()}
    return out


def rows_from_workspace(
    workspace: Any,
    *,
    ontology: Ontology | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
) -> GraphRows:
    """Read the workspace JSONL (``Workspace.read``) and build its rows."""
    if ontology is None:
        ontology = workspace_ontology(workspace)
    return build_rows(
        workspace.read("documents"),
        workspace.read("chunks"),
        workspace.read("entities"),
        workspace.read("relations"),
        workspace.read("summaries"),
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
