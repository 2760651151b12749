"""Vectors from the workspace into the store, the load version, and the migration of a store
written by kg's earlier schema (HAS_CHUNK / NEXT, no __Entity__) — real embedded FalkorDB."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kg.config import Settings
from kg.store import open_store
from kg.store.base import GraphStore
from kg.workspace import Workspace
from pipelines.load import load_workspace, store_version
from tests.synthetic_graph import DOCS, build_graph, expected_counts, write_workspace


class HashEncoder:
    """A deterministic stand-in for MiniLM with MiniLM's model id (so the loader finds it)."""

    dim = 384

    def __init__(self) -> None:
        from kg.retrieval.embed import MODEL_ID

        self.model_id = MODEL_ID
        self.seen: list[str] = []

    def embed(self, texts, batch_size: int = 1) -> np.ndarray:
        self.seen.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, t in enumerate(texts):
            for w in t.lower().split():
                out[row, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[row, 0] += 0.01
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def embed(ws: Workspace, tmp: Path, encoder: HashEncoder | None = None) -> HashEncoder:
    from kg.retrieval.embed_workspace import write_embeddings

    enc = encoder or HashEncoder()
    write_embeddings(ws, ws.read("chunks"), ws.read("entities"), embedder=enc, cache_dir=tmp)
    return enc


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def store(ws: Workspace) -> Iterator[GraphStore]:
    with open_store(Settings(), ws) as s:
        yield s


def vectors_in(store: GraphStore, label: str) -> dict[str, list[float]]:
    rows = store.read(
        f"MATCH (n:{label}) WHERE n.embedding IS NOT NULL RETURN n.id AS id, n.embedding AS v"
    )
    return {r["id"]: r["v"] for r in rows}


def test_workspace_vectors_are_compact_and_complete(ws: Workspace, tmp_path: Path) -> None:
    from kg.retrieval.embed_workspace import read_vectors, vectors_path

    embed(ws, tmp_path / "cache")
    chunks = read_vectors(ws.root, "chunks")
    assert chunks is not None and chunks.ids == [c.id for c in ws.read("chunks")]
    assert chunks.matrix.dtype == np.float32 and chunks.matrix.shape[1] == 384
    assert vectors_path(ws.root, "chunks", chunks.model_id).suffix == ".npz"
    entities = read_vectors(ws.root, "entities")
    assert entities is not None and set(entities.ids) == {e.id for e in ws.read("entities")}


def test_load_writes_chunk_and_entity_vectors_the_index_finds(
    ws: Workspace, store: GraphStore, tmp_path: Path
) -> None:
    enc = embed(ws, tmp_path / "cache")
    report = load_workspace(ws, store, progress=False, entity_vectors=True)
    chunks, entities = ws.read("chunks"), ws.read("entities")
    assert report.vectors == {"chunks": len(chunks), "entities": len(entities)}
    assert set(vectors_in(store, "Chunk")) == {c.id for c in chunks}
    target = chunks[2]
    hits = store.read(
        "CALL db.idx.vector.queryNodes('Chunk', 'embedding', 1, vecf32($v)) "
        "YIELD node RETURN node.id AS id",
        {"v": enc.embed([target.text])[0].tolist()},
    )
    assert hits == [{"id": target.id}]
    name = entities[0]
    hits = store.read(
        "CALL db.idx.vector.queryNodes('Entity', 'embedding', 1, vecf32($v)) "
        "YIELD node RETURN node.id AS id",
        {"v": enc.embed([name.name])[0].tolist()},
    )
    assert hits[0]["id"] in {e.id for e in entities if e.name == name.name}


def test_incremental_load_writes_the_vectors_of_what_changed(
    ws: Workspace, store: GraphStore, tmp_path: Path
) -> None:
    embed(ws, tmp_path / "cache")
    first = load_workspace(ws, store, progress=False)
    docs = {**DOCS, "notes/new.md": "Bob trains a transformer on CIFAR."}
    g = build_graph(docs)
    for kind, items in g.items():
        ws.write(kind, items)
    embed(ws, tmp_path / "cache")
    second = load_workspace(ws, store, progress=False)
    assert second.mode == "incremental"
    new_chunks = [
        c for c in g["chunks"] if c.doc_id not in {x.doc_id for x in build_graph(DOCS)["chunks"]}
    ]
    assert 0 < second.vectors["chunks"] < first.vectors["chunks"] + len(new_chunks)
    assert set(vectors_in(store, "Chunk")) == {c.id for c in g["chunks"]}
    assert second.load_version == first.load_version + 1
    assert store_version(store)["version"] == second.load_version
    assert store_version(store)["state"] == "ready"


def test_vectors_added_later_reach_an_unchanged_store(
    ws: Workspace, store: GraphStore, tmp_path: Path
) -> None:
    load_workspace(ws, store, progress=False)  # a workspace from before embeddings
    assert vectors_in(store, "Chunk") == {}
    embed(ws, tmp_path / "cache")
    report = load_workspace(ws, store, progress=False)
    assert report.mode == "incremental"  # no full reload: only the vectors go out
    assert set(report.rows) == {"upsert/chunk_embeddings_falkordb"}  # no entity vectors asked
    assert len(vectors_in(store, "Chunk")) == expected_counts(DOCS)["Chunk"]
    again = load_workspace(ws, store, progress=False)
    assert again.mode == "unchanged" and again.load_version == report.load_version


def test_load_version_is_bumped_by_every_writing_load(ws: Workspace, store: GraphStore) -> None:
    import json

    first = load_workspace(ws, store, progress=False)
    assert first.load_version == 1 == store_version(store)["version"]
    assert json.loads((ws.root / "loaded.json").read_text())["load_version"] == 1
    assert load_workspace(ws, store, progress=False).load_version == 1  # unchanged
    rebuilt = load_workspace(ws, store, rebuild=True, progress=False)
    assert rebuilt.load_version == 2 == store_version(store)["version"]


LEGACY_CHUNKS = """UNWIND $rows AS row
MATCH (d:Document {id: row.doc_id})
MERGE (c:Chunk {id: row.id})
SET c.doc_id = row.doc_id, c.index = row.index, c.start = row.start, c.end = row.end,
    c.text = row.text
MERGE (d)-[:HAS_CHUNK]->(c)"""
LEGACY_NEXT = """UNWIND $rows AS row
MATCH (a:Chunk {id: row.prev_id})
MATCH (b:Chunk {id: row.next_id})
MERGE (a)-[:`NEXT`]->(b)"""
LEGACY_ENTITIES = """UNWIND $rows AS row
MERGE (e:Entity:{label} {{id: row.id}})
SET e.name = row.name, e.type = row.type, e.aliases = row.aliases,
    e.description = row.description, e.source = row.source"""


def test_a_store_loaded_by_the_old_schema_is_migrated(ws: Workspace, tmp_path: Path) -> None:
    """The previous release's Cypher (HAS_CHUNK, NEXT, no __Entity__) filled the store and wrote
    a v3 loaded.json; the next `kg load` renames in place and stays incremental."""
    import json

    from kg.cypher import cypher
    from kg.store.rows import rows_from_workspace

    with open_store(Settings(), ws) as store:
        load_workspace(ws, store, progress=False)
        state = json.loads((ws.root / "loaded.json").read_text())
        store.clear()
        rows = rows_from_workspace(ws)
        store.run(cypher("upsert/documents"), {"rows": rows.documents})
        store.run(LEGACY_CHUNKS, {"rows": rows.chunks})
        store.run(LEGACY_NEXT, {"rows": rows.next})
        store.run(cypher("upsert/summaries"), {"rows": rows.summaries})
        for label, batch in rows.entities.items():
            store.run(LEGACY_ENTITIES.format(label=label), {"rows": batch})
        store.run(cypher("upsert/mentions"), {"rows": rows.mentions})
        for rel_type, batch in rows.relations.items():
            store.run(cypher("upsert/relations", rel_type=rel_type), {"rows": batch})
        old = {k: v for k, v in state["counts"].items()}
        old["HAS_CHUNK"], old["NEXT"] = old.pop("FROM_DOCUMENT"), old.pop("NEXT_CHUNK")
        legacy = {**state, "version": 3, "counts": old}
        legacy.pop("load_version"), legacy.pop("vectors")
        (ws.root / "loaded.json").write_text(json.dumps(legacy))
        assert store.read("MATCH ()-[r:HAS_CHUNK]->() RETURN count(r) AS n")[0]["n"] > 0

        report = load_workspace(ws, store, progress=False)
        assert report.mode in {"incremental", "unchanged"}, report.reason
        assert report.migrated == {
            "has_chunk": len(rows.chunks), "next_edges": len(rows.next),
            "unlabelled": sum(len(b) for b in rows.entities.values()),
        }  # fmt: skip
        assert report.written == expected_counts(DOCS)
        for old_type in ("HAS_CHUNK", "`NEXT`"):
            assert store.read(f"MATCH ()-[r:{old_type}]->() RETURN count(r) AS n")[0]["n"] == 0
        unlabelled = store.read("MATCH (e:Entity) WHERE NOT e:__Entity__ RETURN count(e) AS n")
        assert unlabelled == [{"n": 0}]
        order = store.read(
            "MATCH (a:Chunk)-[:NEXT_CHUNK]->(b:Chunk)-[:FROM_DOCUMENT]->(d:Document) "
            "RETURN count(*) AS n"
        )
        assert order == [{"n": len(rows.next)}]


def test_csv_and_cypher_exports_carry_the_vectors(ws: Workspace, tmp_path: Path) -> None:
    import csv

    from kg.export import ARRAY_DELIMITER, export_workspace
    from kg.retrieval.embed_workspace import read_vectors
    from tests.test_export import check_neo4j_admin_csv

    embed(ws, tmp_path / "cache")
    folder = export_workspace(ws, "csv", tmp_path / "csv")
    check_neo4j_admin_csv(folder, ARRAY_DELIMITER)  # float[] parses, headers hold
    table = read_vectors(ws.root, "chunks")
    assert table is not None
    with (folder / "chunks.csv").open(encoding="utf-8", newline="") as fh:
        got = {r["id:ID(Chunk)"]: r["embedding:float[]"] for r in csv.DictReader(fh)}
    for cid, text in got.items():
        vec = np.array([float(x) for x in text.split(ARRAY_DELIMITER)], dtype=np.float32)
        assert np.allclose(vec, table[cid], atol=1e-6)
    script = export_workspace(ws, "cypher", tmp_path / "kg.cypher").read_text()
    assert "SET c.embedding = row.embedding" in script
    assert "SET e.embedding = row.embedding" in script


def test_batched_encoding_changes_no_vector() -> None:
    """Names go in batches of 32, passages one by one: the real MiniLM gives the same vectors
    as one text per call, so a text's vector never depends on its batch-mates."""
    from kg.retrieval.embed import shared_embedder
    from kg.retrieval.embed_workspace import SHORT_CHARS, embed_batched

    texts = ["PCA", "K-means clustering", "Andrew Ng", "scikit-learn"] * 3
    texts += ["A longer passage about dimensionality reduction. " * 8, "Another one " * 30]
    assert any(len(t) > SHORT_CHARS for t in texts)
    enc = shared_embedder()
    alone = np.stack([enc.embed([t], batch_size=1)[0] for t in texts])
    assert np.array_equal(embed_batched(enc, texts), alone)


def test_vector_files_are_byte_deterministic(tmp_path: Path) -> None:
    """The same vectors give the same bytes (workers and Ray must write identical workspaces)."""
    import time

    from kg.retrieval.embed_workspace import VectorTable, read_vectors, save_vectors

    m = np.random.default_rng(0).standard_normal((5, 384)).astype(np.float32)
    table = VectorTable("m", [f"c{i}" for i in range(5)], m)
    save_vectors(tmp_path / "a" / "chunks-m.npz", table)
    time.sleep(2.1)  # zip timestamps have a 2 s resolution
    save_vectors(tmp_path / "b" / "chunks-m.npz", table)
    a, b = (tmp_path / d / "chunks-m.npz" for d in "ab")
    assert a.read_bytes() == b.read_bytes()
    (tmp_path / "a" / "embeddings").mkdir()
    (tmp_path / "a" / "chunks-m.npz").rename(tmp_path / "a" / "embeddings" / "chunks-m.npz")
    back = read_vectors(tmp_path / "a", "chunks", "m")
    assert back is not None and back.ids == table.ids and np.array_equal(back.matrix, m)
