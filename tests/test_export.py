"""Exports: the Cypher script runs (on the real FalkorDB) and reproduces the graph exactly,
CSV follows the neo4j-admin header format, GraphML reads back with networkx."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import networkx as nx
import pytest

from kg.config import Settings
from kg.export import ARRAY_DELIMITER, cypher_statements, export_workspace, literal
from kg.store import open_store
from kg.store.rows import rows_from_workspace
from pipelines.load import load_workspace
from tests.synthetic_graph import DOCS, expected_counts, write_workspace

RELATIONSHIP_FILES = {"from_document.csv", "next_chunk.csv", "mentions.csv", "summarizes.csv",
                      "relations.csv"}  # fmt: skip
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


# neo4j-admin's CSV header rules (Operations Manual, "Import header format"): each field is
# <name>:<field_type>; :ID / :START_ID / :END_ID take an optional (id space); properties take a
# type, with [] for arrays split on --array-delimiter; a node file has one :ID and :LABEL, a
# relationship file :START_ID, :END_ID and :TYPE.
_FIELD = re.compile(
    r"^(?P<name>[^:()]*)(?::(?P<type>ID|START_ID|END_ID|LABEL|TYPE|IGNORE|int|long|float|double"
    r"|boolean|byte|short|char|string|point|date|localtime|time|localdatetime|datetime|duration)"
    r"(?P<array>\[\])?(?:\((?P<space>[A-Za-z0-9_-]+)\))?)?$"
)
_PARSE = {"int": int, "long": int, "float": float, "double": float, "short": int, "byte": int,
          "boolean": lambda v: {"true": True, "false": False}[v], "string": str, "char": str}


def check_neo4j_admin_csv(folder: Path, delimiter: str) -> dict[str, int]:
    """Apply the header rules to every CSV file; returns rows per node label / rel type."""
    spaces: dict[str, set[str]] = {}
    rel_files: list[tuple[str, list[dict[str, str]], list[list[str]]]] = []
    counts: dict[str, int] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            header, *body = list(csv.reader(fh))
        fields = []
        for raw in header:
            m = _FIELD.match(raw)
            assert m, f"{path.name}: {raw!r} is not <name>:<type>"
            f = m.groupdict()
            if f["space"] or f["array"]:
                assert f["type"] in {"ID", "START_ID", "END_ID"} or not f["space"], raw
            if f["type"] in {"LABEL", "TYPE", "START_ID", "END_ID"}:
                assert f["name"] == "", f"{raw}: no property name on {f['type']}"
            fields.append(f)
        kinds = [f["type"] for f in fields]
        names = [f["name"] for f in fields if f["name"]]
        assert len(names) == len(set(names)), f"{path.name}: a property twice"
        assert all(len(r) == len(header) for r in body), f"{path.name}: ragged rows"
        for f, column in zip(fields, zip(*body, strict=True), strict=True):
            parse = _PARSE.get(f["type"] or "string")
            for value in column if parse else ():
                for part in (value.split(delimiter) if f["array"] and value else [value]):
                    if value or not f["array"]:
                        parse(part)  # raises when a typed value does not parse
        if "ID" in kinds:
            assert kinds.count("ID") == 1 and "LABEL" in kinds and "TYPE" not in kinds, path.name
            i = kinds.index("ID")
            ids = {r[i] for r in body}
            assert len(ids) == len(body), f"{path.name}: duplicate ids"
            space = fields[i]["space"] or ""
            assert not spaces.get(space, set()) & ids, f"{path.name}: ids clash in {space}"
            spaces.setdefault(space, set()).update(ids)
            for r in body:
                for label in r[kinds.index("LABEL")].split(delimiter):
                    counts[label] = counts.get(label, 0) + 1
        else:
            assert {"START_ID", "END_ID", "TYPE"} <= set(kinds), path.name
            rel_files.append((path.name, fields, body))
    for name, fields, body in rel_files:
        kinds = [f["type"] for f in fields]
        for end in ("START_ID", "END_ID"):
            i = kinds.index(end)
            space = fields[i]["space"] or ""
            assert space in spaces, f"{name}: unknown id space {space!r}"
            assert all(r[i] in spaces[space] for r in body), f"{name}: dangling {end}"
        for r in body:
            t = r[kinds.index("TYPE")]
            counts[t] = counts.get(t, 0) + 1
    return counts


def test_csv_export_follows_the_neo4j_admin_header_rules(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", TRICKY)
    folder = export_workspace(ws, "csv", tmp_path / "csv")
    counts = check_neo4j_admin_csv(folder, ARRAY_DELIMITER)
    expected = expected_counts(TRICKY)
    for key in ("Document", "Chunk", "Entity", "Summary", "FROM_DOCUMENT", "NEXT_CHUNK",
                "MENTIONS", "SUMMARIZES"):  # fmt: skip
        assert counts.get(key, 0) == expected[key], key
    assert counts["__Entity__"] == expected["Entity"]  # neo4j-graphrag's entity label
    structural = {"Document", "Chunk", "Entity", "__Entity__", "Summary", "FROM_DOCUMENT",
                  "NEXT_CHUNK", "MENTIONS", "SUMMARIZES"}  # fmt: skip
    labels = {e["type"] for e in (x.model_dump() for x in ws.read("entities"))}
    rels = sum(v for k, v in counts.items() if k not in structural | labels)
    assert rels == expected["relations"]
    with (folder / "chunks.csv").open(encoding="utf-8", newline="") as fh:
        texts = {r["id:ID(Chunk)"]: r["text"] for r in csv.DictReader(fh)}
    assert texts == {c.id: c.text for c in ws.read("chunks")}  # multi-line text survives
    with (folder / "entities.csv").open(encoding="utf-8", newline="") as fh:
        labels_of = {r["name"]: r[":LABEL"] for r in csv.DictReader(fh)}
    assert labels_of["Alice"] == f"Entity{ARRAY_DELIMITER}__Entity__{ARRAY_DELIMITER}Person"
    script = (folder / "import.sh").read_text()
    assert "neo4j-admin database import full" in script
    assert f"--array-delimiter='{ARRAY_DELIMITER}'" in script
    assert "--multiline-fields=true" in script
    for name in sorted(p.name for p in folder.glob("*.csv")):
        kind = "--relationships" if name in RELATIONSHIP_FILES else "--nodes"
        assert f"{kind}={name}" in script


def test_header_check_rejects_what_neo4j_admin_would(tmp_path: Path) -> None:
    """The rules above can fail: a bad type, a dangling end, an unknown id space."""
    cases = {
        "bad type": ("id:ID(A),n:integer,:LABEL\n1,2,A\n", ""),
        "dangling": ("id:ID(A),:LABEL\n1,A\n", ":START_ID(A),:END_ID(A),:TYPE\n1,9,R\n"),
        "unknown space": ("id:ID(A),:LABEL\n1,A\n", ":START_ID(B),:END_ID(A),:TYPE\n1,1,R\n"),
        "bad long": ("id:ID(A),n:long,:LABEL\n1,x,A\n", ""),
    }
    for name, (nodes, rels) in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / "a.csv").write_text(nodes)
        if rels:
            (folder / "r.csv").write_text(rels)
        with pytest.raises((AssertionError, ValueError)):
            check_neo4j_admin_csv(folder, ARRAY_DELIMITER)


def test_graphml_export_reads_back(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", TRICKY)
    path = export_workspace(ws, "graphml", tmp_path / "g.graphml")
    g = nx.read_graphml(path, force_multigraph=True)
    expected = expected_counts(TRICKY)
    assert g.number_of_nodes() == sum(
        expected[k] for k in ("Document", "Chunk", "Entity", "Summary")
    )
    assert g.number_of_edges() == sum(
        expected[k] for k in ("FROM_DOCUMENT", "NEXT_CHUNK", "MENTIONS", "SUMMARIZES", "relations")
    )
    chunk = next(c for c in ws.read("chunks") if "😀" in c.text)
    assert g.nodes[chunk.id]["text"] == chunk.text
    types = {d["type"] for _, _, d in g.edges(data=True)}
    assert {"USES", "APPLIED_TO", "MENTIONS", "NEXT_CHUNK"} <= types


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
