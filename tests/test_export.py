"""Exports: the Cypher script runs (on the real FalkorDB) and reproduces the graph exactly,
CSV follows the neo4j-admin header format, GraphML reads back with networkx."""

from __future__ import annotations

import csv
from pathlib import Path

import networkx as nx
import pytest

from kg.config import Settings
from kg.export import cypher_statements, export_workspace, literal
from kg.store import open_store
from kg.store.rows import rows_from_workspace
from pipelines.load import load_workspace
from tests.test_load import DOCS, expected_counts, write_workspace

TRICKY = dict(DOCS)
TRICKY["notes/tricky.md"] = (
    "PCA's \"quotes\" and back\\slashes \\' end; new\nline\ttab \\n literal, "
    "unicode café 😀 \u2028 sep, Alice } ] ) // not a comment /* nor this */ ${x}"
)


def test_literal_escapes() -> None:
    assert literal("it's") == "'it\\'s'"
    assert literal("a\\b") == "'a\\\\b'"
    assert literal("x\ny\x01\u2028") == "'x\\ny\\u0001\u2028'"
    assert literal([1, 2.5, None, True, {"k": "v"}]) == "[1, 2.5, null, true, {`k`: 'v'}]"
    assert literal(float("nan")) == "null"
    with pytest.raises(ValueError):
        literal({"bad key": 1})


def test_cypher_export_rebuilds_the_same_graph(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", TRICKY)
    path = export_workspace(ws, "cypher", tmp_path / "out")
    assert path == tmp_path / "out" / "kg.cypher"
    text = path.read_text(encoding="utf-8")
    assert "$rows" not in text and ":begin" in text and "CREATE CONSTRAINT" in text

    # the exported statements run unchanged on FalkorDB (the upsert files are portable)
    with open_store(Settings(), tmp_path / "target") as store:
        store.apply_schema()
        for stmt in cypher_statements(rows_from_workspace(ws), batch=2):
            store.run(stmt.rstrip(";"))
        assert store.counts() == expected_counts(TRICKY)
        for chunk in ws.read("chunks"):
            got = store.read("MATCH (c:Chunk {id: $id}) RETURN c.text AS t", {"id": chunk.id})
            assert got == [{"t": chunk.text}]

        # and give the same graph as the loader does
        with open_store(Settings(), tmp_path / "loaded") as other:
            load_workspace(ws, other, progress=False)
            q = "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b ORDER BY a, t, b"
            assert store.read(q) == other.read(q)


def test_csv_export_uses_neo4j_admin_headers(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", TRICKY)
    folder = export_workspace(ws, "csv", tmp_path / "csv")
    expected = expected_counts(TRICKY)
    files = {
        "documents.csv": "Document", "chunks.csv": "Chunk", "entities.csv": "Entity",
        "summaries.csv": "Summary", "has_chunk.csv": "HAS_CHUNK", "next.csv": "NEXT",
        "mentions.csv": "MENTIONS", "summarizes.csv": "SUMMARIZES", "relations.csv": "relations",
    }  # fmt: skip
    ids: set[str] = set()
    for name, key in files.items():
        with (folder / name).open(encoding="utf-8", newline="") as fh:
            records = list(csv.reader(fh))
        header, body = records[0], records[1:]
        assert len(body) == expected[key], name
        if "id:ID" in header:
            assert ":LABEL" in header
            ids |= {r[header.index("id:ID")] for r in body}
        else:
            assert header[:3] == [":START_ID", ":END_ID", ":TYPE"]
            assert all(r[0] in ids and r[1] in ids for r in body), name  # no dangling ends
    with (folder / "chunks.csv").open(encoding="utf-8", newline="") as fh:
        texts = {r["id:ID"]: r["text"] for r in csv.DictReader(fh)}
    assert texts == {c.id: c.text for c in ws.read("chunks")}  # multi-line text survives
    with (folder / "entities.csv").open(encoding="utf-8", newline="") as fh:
        labels = {r["name"]: r[":LABEL"] for r in csv.DictReader(fh)}
    assert labels["Alice"] == "Entity;Person"
    script = (folder / "import.sh").read_text()
    assert (
        "neo4j-admin database import full" in script and "--relationships=relations.csv" in script
    )


def test_graphml_export_reads_back(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", TRICKY)
    path = export_workspace(ws, "graphml", tmp_path / "g.graphml")
    g = nx.read_graphml(path, force_multigraph=True)
    expected = expected_counts(TRICKY)
    assert g.number_of_nodes() == sum(
        expected[k] for k in ("Document", "Chunk", "Entity", "Summary")
    )
    assert g.number_of_edges() == sum(
        expected[k] for k in ("HAS_CHUNK", "NEXT", "MENTIONS", "SUMMARIZES", "relations")
    )
    chunk = next(c for c in ws.read("chunks") if "😀" in c.text)
    assert g.nodes[chunk.id]["text"] == chunk.text
    types = {d["type"] for _, _, d in g.edges(data=True)}
    assert {"USES", "APPLIED_TO", "MENTIONS", "NEXT"} <= types


def test_unknown_format(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    with pytest.raises(ValueError, match="unknown export format"):
        export_workspace(ws, "xml", tmp_path / "x")  # type: ignore[arg-type]


def test_cypher_export_is_valid_neo4j_syntax(tmp_path: Path) -> None:
    from graphglot.dialect import Dialect

    neo4j = Dialect.get_or_raise("neo4j")
    ws = write_workspace(tmp_path / "ws", TRICKY)
    seen: set[str] = set()
    for stmt in cypher_statements(rows_from_workspace(ws), batch=3):
        template = stmt.split(" AS row", 1)[1]
        if template in seen:
            continue  # graphglot is slow on long literals: one batch per upsert file
        seen.add(template)
        result = neo4j.validate(stmt.rstrip(";"))
        assert result.success, f"{stmt[:80]}: {result.error}"
