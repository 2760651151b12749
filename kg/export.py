"""Export the workspace graph: neo4j-admin import CSV, a cypher-shell script, or GraphML.

All three are built from the same rows the loader writes (kg.store.rows), so an export holds
exactly what ``kg load`` would put in a store. The Cypher script reuses the ``cypher/upsert``
files with ``$rows`` replaced by an escaped literal list: it is a file for cypher-shell to run,
never executed by kg.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from kg.cypher import cypher, statements, strip_comments
from kg.errors import BadInput
from kg.store.rows import GraphRows, rows_from_workspace

Format = Literal["cypher", "csv", "graphml"]
BATCH = 500  # rows per UNWIND statement in the Cypher script
ARRAY_DELIMITER = ";"  # neo4j-admin's default


def export_workspace(workspace: Any, fmt: Format, out: Path) -> Path:
    """Write the export; ``out`` is a folder for csv, a file (or a folder to put one in) else.
    Returns the folder or file written. Chunk and entity vectors go with csv and cypher (for
    the vector indexes, as `kg load` writes them), not into GraphML (scalars only)."""
    from kg.retrieval.embed_workspace import read_vectors

    chunk_vectors = read_vectors(workspace.root, "chunks")
    rows = rows_from_workspace(workspace, embeddings=chunk_vectors)
    entity_vectors = read_vectors(workspace.root, "entities")
    if entity_vectors is not None:
        rows.entity_embeddings = [
            {"id": e["id"], "embedding": entity_vectors[e["id"]]}
            for batch in rows.entities.values() for e in batch if e["id"] in entity_vectors
        ]  # fmt: skip
    out = Path(out)
    if fmt == "csv":
        return write_csv(rows, out)
    if fmt == "cypher":
        return write_cypher(rows, _file(out, "kg.cypher"))
    if fmt == "graphml":
        return write_graphml(rows, _file(out, "kg.graphml"))
    raise BadInput(f"unknown export format {fmt!r} (use cypher, csv or graphml)")


def _file(out: Path, default: str) -> Path:
    path = out if out.suffix else out / default
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ---- Cypher literals ----

_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# other control characters become \uXXXX (Neo4j's escape; FalkorDB would keep it verbatim)
_NEEDS_ESCAPE = re.compile(r"[\\'\x00-\x1f]")


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def literal(value: Any) -> str:
    """A Cypher literal for a JSON-like value (strings single-quoted and escaped)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return "'" + _NEEDS_ESCAPE.sub(_escape_char, value) + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"`{_key(k)}`: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as a Cypher literal")


def _key(key: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise ValueError(f"unsafe map key {key!r}")
    return key


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def cypher_statements(rows: GraphRows, batch: int = BATCH) -> Iterator[str]:
    """Parameter-free upsert statements, in load order (documents before their chunks …)."""

    def fill(name: str, items: Sequence[Any], **ids: str) -> Iterator[str]:
        template = strip_comments(cypher(name, **ids))
        for part in _batches(items, batch):
            text = literal(list(part))
            yield re.sub(r"\$rows\b", lambda _m, t=text: t, template) + ";"

    yield from fill("upsert/documents", rows.documents)
    yield from fill("upsert/chunks", rows.chunks)
    yield from fill("upsert/chunk_embeddings_neo4j", _listed(rows.embeddings))
    yield from fill("upsert/next", rows.next)
    yield from fill("upsert/summaries", rows.summaries)
    for label, items in sorted(rows.entities.items()):
        yield from fill("upsert/entities", items, label=label)
    yield from fill("upsert/entity_embeddings_neo4j", _listed(rows.entity_embeddings))
    yield from fill("upsert/mentions", rows.mentions)
    for rel_type, items in sorted(rows.relations.items()):
        yield from fill("upsert/relations", items, rel_type=rel_type)


def _listed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Vector rows with float lists (7 significant digits: float32 holds no more)."""
    return [{"id": r["id"], "embedding": [float(f"{x:.7g}") for x in r["embedding"]]}
            for r in rows]  # fmt: skip


def _vector_column(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    return {r["id"]: ARRAY_DELIMITER.join(f"{x:.7g}" for x in r["embedding"]) for r in rows}


def write_cypher(rows: GraphRows, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("// kg graph export for Neo4j 5: cypher-shell -u neo4j -p ... -f kg.cypher\n")
        fh.write("// schema first (indexes before MERGE), then one transaction per batch\n")
        for stmt in statements("schema/neo4j"):
            fh.write(stmt + ";\n")
        for stmt in cypher_statements(rows):
            fh.write(":begin\n" + stmt + "\n:commit\n")
    return path


# ---- neo4j-admin CSV ----


def _array(items: Iterable[str]) -> str:
    # neo4j-admin has no escape for the array delimiter inside an element
    return ARRAY_DELIMITER.join(str(i).replace(ARRAY_DELIMITER, ",") for i in items)


def _write(path: Path, header: list[str], records: Iterable[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(records)


def write_csv(rows: GraphRows, folder: Path) -> Path:
    """Node and relationship files in the ``neo4j-admin database import`` header format
    (``name:type``, ``:ID(space)`` / ``:START_ID(space)`` / ``:END_ID(space)`` with one id space
    per node label, ``:LABEL``, ``:TYPE``, ``string[]`` arrays split on ARRAY_DELIMITER), with
    the import command in ``import.sh`` and the indexes in ``schema.cypher``. See
    docs/neo4j.md."""
    folder.mkdir(parents=True, exist_ok=True)
    chunk_vecs = _vector_column(rows.embeddings)
    entity_vecs = _vector_column(rows.entity_embeddings)
    labels = f"Entity{ARRAY_DELIMITER}__Entity__{ARRAY_DELIMITER}"
    _write(
        folder / "documents.csv",
        ["id:ID(Document)", "path", "title", "chars:long", "sha256", "format", ":LABEL"],
        ([d["id"], d["path"], d["title"], d["chars"], d["sha256"], d["format"], "Document"]
         for d in rows.documents),
    )  # fmt: skip
    _write(
        folder / "chunks.csv",
        ["id:ID(Chunk)", "doc_id", "index:long", "start:long", "end:long", "text",
         "embedding:float[]", ":LABEL"],
        ([c["id"], c["doc_id"], c["index"], c["start"], c["end"], c["text"],
          chunk_vecs.get(c["id"], ""), "Chunk"] for c in rows.chunks),
    )  # fmt: skip
    _write(
        folder / "entities.csv",
        ["id:ID(Entity)", "name", "type", "aliases:string[]", "description", "source",
         "embedding:float[]", ":LABEL"],
        ([e["id"], e["name"], e["type"], _array(e["aliases"]), e["description"], e["source"],
          entity_vecs.get(e["id"], ""), labels + label]
         for label, items in sorted(rows.entities.items()) for e in items),
    )  # fmt: skip
    _write(
        folder / "summaries.csv",
        ["id:ID(Summary)", "doc_id", "level:long", "text", "source_chunk_ids:string[]",
         "source_summary_ids:string[]", ":LABEL"],
        ([s["id"], s["doc_id"], s["level"], s["text"], _array(s["source_chunk_ids"]),
          _array(s["source_summary_ids"]), "Summary"] for s in rows.summaries),
    )  # fmt: skip
    _write(
        folder / "from_document.csv",
        [":START_ID(Chunk)", ":END_ID(Document)", ":TYPE"],
        ([c["id"], c["doc_id"], "FROM_DOCUMENT"] for c in rows.chunks),
    )
    _write(
        folder / "next_chunk.csv",
        [":START_ID(Chunk)", ":END_ID(Chunk)", ":TYPE"],
        ([n["prev_id"], n["next_id"], "NEXT_CHUNK"] for n in rows.next),
    )
    _write(
        folder / "mentions.csv",
        [":START_ID(Chunk)", ":END_ID(Entity)", ":TYPE", "start:long", "end:long", "text"],
        ([m["chunk_id"], m["entity_id"], "MENTIONS", m["start"], m["end"], m["text"]]
         for m in rows.mentions),
    )  # fmt: skip
    _write(
        folder / "summarizes.csv",
        [":START_ID(Summary)", ":END_ID(Document)", ":TYPE"],
        ([s["id"], s["doc_id"], "SUMMARIZES"] for s in rows.summaries),
    )
    _write(
        folder / "relations.csv",
        [":START_ID(Entity)", ":END_ID(Entity)", ":TYPE", "id", "chunk_ids:string[]",
         "doc_ids:string[]",
         "confidence:double", "extractor", "description"],
        ([r["head_id"], r["tail_id"], rel_type, r["id"], _array(r["chunk_ids"]),
          _array(r["doc_ids"]), r["confidence"], r["extractor"], r["description"]]
         for rel_type, items in sorted(rows.relations.items()) for r in items),
    )  # fmt: skip
    nodes = " ".join(f"--nodes={n}.csv" for n in ("documents", "chunks", "entities", "summaries"))
    rels = " ".join(
        f"--relationships={r}.csv"
        for r in ("from_document", "next_chunk", "mentions", "summarizes", "relations")
    )
    (folder / "import.sh").write_text(
        "#!/bin/sh\n"
        "# Import into an EMPTY, stopped database (Neo4j 5); then create the indexes with\n"
        "# cypher-shell -f schema.cypher (the id constraints come first: MERGE needs them).\n"
        'cd "$(dirname "$0")"\n'
        "neo4j-admin database import full ${1:-neo4j} --overwrite-destination --id-type=string "
        f"--multiline-fields=true --array-delimiter='{ARRAY_DELIMITER}' {nodes} {rels}\n",
        encoding="utf-8",
    )
    (folder / "schema.cypher").write_text(
        "".join(s + ";\n" for s in statements("schema/neo4j")), encoding="utf-8"
    )
    return folder


# ---- GraphML ----


def _attrs(row: dict[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """GraphML takes scalars only: lists become JSON strings."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in skip or v is None:
            continue
        out[k] = json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
    return out


def write_graphml(rows: GraphRows, path: Path) -> Path:
    """A directed multigraph for Gephi / yEd / networkx: node attribute ``labels`` holds the
    Neo4j labels, edge attribute ``type`` the relationship type."""
    import networkx as nx

    g = nx.MultiDiGraph()
    for d in rows.documents:
        g.add_node(d["id"], labels="Document", **_attrs(d, skip=("id",)))
    for c in rows.chunks:
        g.add_node(c["id"], labels="Chunk", **_attrs(c, skip=("id",)))
        g.add_edge(c["id"], c["doc_id"], type="FROM_DOCUMENT")
    for n in rows.next:
        g.add_edge(n["prev_id"], n["next_id"], type="NEXT_CHUNK")
    for s in rows.summaries:
        g.add_node(s["id"], labels="Summary", **_attrs(s, skip=("id",)))
        g.add_edge(s["id"], s["doc_id"], type="SUMMARIZES")
    for label, items in rows.entities.items():
        for e in items:
            g.add_node(e["id"], labels=f"Entity:__Entity__:{label}", **_attrs(e, skip=("id",)))
    for m in rows.mentions:
        g.add_edge(m["chunk_id"], m["entity_id"], type="MENTIONS",
                   **_attrs(m, skip=("chunk_id", "entity_id")))  # fmt: skip
    for rel_type, items in rows.relations.items():
        for r in items:
            g.add_edge(r["head_id"], r["tail_id"], key=r["id"], type=rel_type,
                       **_attrs(r, skip=("head_id", "tail_id")))  # fmt: skip
    nx.write_graphml(g, path)
    return path
