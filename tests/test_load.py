"""The loader against the real embedded FalkorDB: counts, idempotence, incremental updates,
embeddings, the workspace lock and the final count check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.models import Document
from kg.store import open_store
from kg.store.base import GraphStore
from kg.workspace import Workspace, WorkspaceLocked
from pipelines.load import LoadMismatch, load_workspace
from tests.synthetic_graph import (
    DOCS,
    build_graph,
    expected_counts,
    write_workspace,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def store(ws: Workspace) -> Iterator[GraphStore]:
    with open_store(Settings(), ws) as s:
        yield s


def test_load_twice_gives_identical_counts(ws: Workspace, store: GraphStore) -> None:
    first = load_workspace(ws, store, progress=False)
    assert first.mode == "full"
    assert first.written == expected_counts(DOCS)
    assert all(v > 0 for v in first.written.values())
    store.run("MATCH (n) SET n.marker = 1")

    second = load_workspace(ws, store, progress=False)
    assert second.mode == "unchanged"
    assert second.rows == {}
    assert second.written == first.written
    unmarked = store.read("MATCH (n) WHERE n.marker IS NULL RETURN count(n) AS n")
    assert unmarked == [{"n": 0}]  # nothing was re-created

    third = load_workspace(ws, store, rebuild=True, progress=False)
    assert third.mode == "full" and third.reason == "--rebuild"
    assert third.written == first.written


def test_types_become_labels_and_properties_round_trip(ws: Workspace, store: GraphStore) -> None:
    load_workspace(ws, store, progress=False)
    rows = store.read("MATCH (e:Entity:Method) RETURN e.name AS name ORDER BY name")
    assert [r["name"] for r in rows] == ["Gradient descent", "K-means", "PCA"]
    rel = store.read(
        "MATCH (:Person {name: 'Alice'})-[r:USES]->(t:Tool) "
        "RETURN t.name AS tool, r.confidence AS c, r.chunk_ids AS chunks"
    )
    assert rel[0]["tool"] == "PyTorch" and rel[0]["c"] == pytest.approx(0.8)
    assert len(rel[0]["chunks"]) >= 1
    chunk = ws.read("chunks")[0]
    got = store.read("MATCH (c:Chunk {id: $id}) RETURN c.text AS t, c.end AS e", {"id": chunk.id})
    assert got == [{"t": chunk.text, "e": chunk.end}]


def test_changed_document_rewrites_only_its_subgraph(
    tmp_path: Path, ws: Workspace, store: GraphStore
) -> None:
    load_workspace(ws, store, progress=False)
    store.run("MATCH (n) SET n.marker = 1")  # survives only on nodes the update leaves alone

    docs = dict(DOCS)
    docs["notes/pca.md"] = "PCA reduces dimensions. Alice used PCA on MNIST twice."
    write_workspace(ws.root, docs)
    report = load_workspace(ws, store, progress=False)

    old_doc = Document.from_text("notes/pca.md", DOCS["notes/pca.md"]).id
    new_doc = Document.from_text("notes/pca.md", docs["notes/pca.md"]).id
    assert report.mode == "incremental"
    assert report.added_docs == [new_doc] and report.removed_docs == [old_doc]
    assert report.written == expected_counts(docs)
    new_chunks = [c for c in ws.read("chunks") if c.doc_id == new_doc]
    assert report.rows["upsert/chunks"] == len(new_chunks)
    assert report.rows["upsert/documents"] == 1

    marked = store.read("MATCH (c:Chunk) RETURN c.doc_id AS doc, c.marker AS m")
    assert {r["doc"] for r in marked if r["m"] == 1} == {
        d.id for d in ws.read("documents") if d.id != new_doc
    }
    assert all(r["m"] is None for r in marked if r["doc"] == new_doc)
    # every entity node survived (only mentions changed), none was re-created
    entities = store.read("MATCH (e:Entity) RETURN e.marker AS m")
    assert entities and all(r["m"] == 1 for r in entities)


def test_deleted_document_takes_its_exclusive_entities(ws: Workspace, store: GraphStore) -> None:
    load_workspace(ws, store, progress=False)
    docs = {k: v for k, v in DOCS.items() if k != "notes/kmeans.md"}
    write_workspace(ws.root, docs)
    report = load_workspace(ws, store, progress=False)

    assert report.mode == "incremental" and len(report.removed_docs) == 1
    assert report.written == expected_counts(docs)
    names = {r["n"] for r in store.read("MATCH (e:Entity) RETURN e.name AS n")}
    assert "K-means" not in names  # only the deleted document mentioned it
    assert {"PCA", "Alice"} <= names  # shared ones stay
    rels = store.read("MATCH (:Entity)-[r:RELATED_TO]->(b:Entity) RETURN b.name AS tail")
    assert [r["tail"] for r in rels] == ["PyTorch"]  # K-means RELATED_TO PCA went with it


def test_stale_entities_file_does_not_resurrect_orphans(ws: Workspace, store: GraphStore) -> None:
    """entities/relations still listing a deleted document's entity: the loader drops them."""
    load_workspace(ws, store, progress=False)
    full = build_graph(DOCS)
    docs = {k: v for k, v in DOCS.items() if k != "notes/kmeans.md"}
    part = build_graph(docs)
    ws.write("documents", part["documents"])
    ws.write("chunks", part["chunks"])
    ws.write("summaries", part["summaries"])
    ws.write("entities", full["entities"])  # stale: still has K-means
    ws.write("relations", full["relations"])
    report = load_workspace(ws, store, progress=False)
    assert report.skipped.get("entity whose documents are gone") == 1
    assert report.written["Entity"] == expected_counts(docs)["Entity"]
    assert report.written == expected_counts(docs)


def test_embeddings_feed_the_vector_index(ws: Workspace, store: GraphStore) -> None:
    chunks = ws.read("chunks")
    vectors = {c.id: [float(i == n % 384) for i in range(384)] for n, c in enumerate(chunks)}
    report = load_workspace(ws, store, progress=False, embeddings=vectors)
    assert report.rows["upsert/chunks_vectors_falkordb"] == len(chunks) == report.vectors["chunks"]
    target = chunks[3]
    hits = store.read(
        "CALL db.idx.vector.queryNodes('Chunk', 'embedding', 1, vecf32($v)) "
        "YIELD node RETURN node.id AS id",
        {"v": vectors[target.id]},
    )
    assert hits == [{"id": target.id}]


def test_second_load_is_blocked_by_the_lock(ws: Workspace, store: GraphStore) -> None:
    with ws.lock("load"), pytest.raises(WorkspaceLocked):
        load_workspace(ws, store, progress=False)
    assert store.counts()["Document"] == 0  # nothing was written


def test_store_out_of_sync_with_loaded_json_triggers_full_reload(
    ws: Workspace, store: GraphStore
) -> None:
    load_workspace(ws, store, progress=False)
    store.run("MATCH (e:Entity {name: 'PCA'}) DETACH DELETE e")  # someone edited the graph
    report = load_workspace(ws, store, progress=False)
    assert report.mode == "full" and "differs" in report.reason
    assert report.written == expected_counts(DOCS)


class DroppingStore(GraphStore):
    """A real store that silently loses every MENTIONS batch."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner, self.name = inner, inner.name

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [] if ":MENTIONS" in query else self.inner.run(query, params)

    def _read_only(self, query: str, params: Any, timeout_ms: int) -> list[dict[str, Any]]:
        return self.inner._read_only(query, params, timeout_ms)

    def explain(self, query: str, params: Any = None) -> None:
        self.inner.explain(query, params)

    def apply_schema(self) -> None:
        self.inner.apply_schema()

    def clear(self) -> None:
        self.inner.clear()

    def close(self) -> None:
        pass

    @property
    def identity(self) -> str:
        return self.inner.identity


def test_lost_writes_raise_load_mismatch(ws: Workspace, store: GraphStore) -> None:
    with pytest.raises(LoadMismatch, match="MENTIONS"):
        load_workspace(ws, DroppingStore(store), progress=False)
    assert not (ws.root / "loaded.json").exists()
    report = load_workspace(ws, store, progress=False)  # the real store recovers fully
    assert report.mode == "full" and report.written == expected_counts(DOCS)


def test_small_batches_and_progress_bar(ws: Workspace, store: GraphStore) -> None:
    report = load_workspace(ws, store, batch_size=2, progress=True)
    assert report.written == expected_counts(DOCS)
    assert report.rows["upsert/chunks"] == expected_counts(DOCS)["Chunk"]


def dump(store: GraphStore) -> tuple[list[str], list[str]]:
    """Everything in the graph but the load version (KgMeta), comparable across stores."""
    nodes = store.read("MATCH (n) WHERE NOT n:KgMeta RETURN labels(n) AS l, properties(n) AS p")
    edges = store.read(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, properties(r) AS p, b.id AS b"
    )
    return sorted(repr((sorted(n["l"]), sorted(n["p"].items()))) for n in nodes), sorted(
        repr((e["a"], e["t"], sorted(e["p"].items()), e["b"])) for e in edges
    )


def test_incremental_loads_match_a_full_load_after_every_edit(tmp_path: Path) -> None:
    """A sequence of edits, each loaded incrementally, must leave exactly the graph a full load
    of the same workspace gives."""
    ws = write_workspace(tmp_path / "ws")
    docs = dict(DOCS)
    g = build_graph(docs)

    def edit_entity_description(g: dict[str, list[Any]]) -> None:
        g["entities"][0].description = "edited"

    def drop_a_relation(g: dict[str, list[Any]]) -> None:
        g["relations"].pop()

    def change_confidence(g: dict[str, list[Any]]) -> None:
        g["relations"][0].confidence = 0.11

    def retitle_document(g: dict[str, list[Any]]) -> None:
        g["documents"][0].title = "new title"

    edits = [edit_entity_description, drop_a_relation, change_confidence, retitle_document]
    ref_ws = write_workspace(tmp_path / "ref")
    with open_store(Settings(), ws) as store, open_store(Settings(), ref_ws) as ref:
        load_workspace(ws, store, progress=False)
        steps: list[tuple[str, dict[str, list[Any]]]] = []
        for edit in edits:
            g = {k: [x.model_copy(deep=True) for x in v] for k, v in g.items()}
            edit(g)
            steps.append((edit.__name__, g))
        docs2 = {**docs, "notes/new.md": "Alice meets PCA and PyTorch again."}
        steps.append(("add_document", build_graph(docs2)))
        docs3 = {k: v for k, v in docs2.items() if k != "notes/ml.md"}
        steps.append(("delete_document", build_graph(docs3)))
        stale = build_graph(docs3)
        stale["entities"] = build_graph(docs2)["entities"]  # entities file not pruned
        stale["relations"] = build_graph(docs2)["relations"]
        steps.append(("stale_entities", stale))
        steps.append(("document_back", build_graph(docs2)))  # chunks reappear

        for name, graph in steps:
            for kind, items in graph.items():
                ws.write(kind, items)
                ref_ws.write(kind, items)
            report = load_workspace(ws, store, progress=False)
            assert report.mode == "incremental", (name, report.reason)
            full = load_workspace(ref_ws, ref, rebuild=True, progress=False)
            assert report.written == full.written, name
            assert dump(store) == dump(ref), name
            assert report.rows_total < full.rows_total, name


def test_entity_edit_touches_only_that_entity(ws: Workspace, store: GraphStore) -> None:
    load_workspace(ws, store, progress=False)
    store.run("MATCH ()-[m:MENTIONS]->() SET m.marker = 1")
    g = build_graph(DOCS)
    target = next(e for e in g["entities"] if e.name == "MNIST")
    target.description = "a dataset of digits"
    ws.write("entities", g["entities"])
    report = load_workspace(ws, store, progress=False)
    assert report.mode == "incremental" and not report.added_docs and not report.removed_docs
    assert report.rows == {"upsert/entities": 1}  # same mentions: its MENTIONS stay as they are
    got = store.read("MATCH (e:Entity {name: 'MNIST'}) RETURN e.description AS d")
    assert got == [{"d": "a dataset of digits"}]
    assert store.read("MATCH ()-[m:MENTIONS]->() WHERE m.marker IS NULL RETURN count(m) AS n") == [
        {"n": 0}
    ]

    # a changed mention text replaces that entity's MENTIONS, and only those
    target.mentions[0].text = "MNIST!"
    ws.write("entities", g["entities"])
    report = load_workspace(ws, store, progress=False)
    assert report.rows == {
        "upsert/entities": 1,
        "delete/entity_mentions": 1,
        "upsert/mentions": len({(m.chunk_id, m.start) for m in target.mentions}),
    }
    assert report.written == expected_counts(DOCS)
    fresh = store.read(
        "MATCH ()-[m:MENTIONS]->(e:Entity) WHERE m.marker IS NULL RETURN DISTINCT e.name AS n"
    )
    assert fresh == [{"n": "MNIST"}]


def test_duplicate_ids_fall_back_to_a_full_load(ws: Workspace, store: GraphStore) -> None:
    load_workspace(ws, store, progress=False)
    g = build_graph(DOCS)
    twin = g["entities"][0].model_copy(update={"description": "second copy"})
    ws.write("entities", [*g["entities"], twin])  # the last one wins, as in a full load
    report = load_workspace(ws, store, progress=False)
    assert report.mode == "full" and "duplicate" in report.reason
    assert report.written == expected_counts(DOCS)
    got = store.read("MATCH (e:Entity {id: $id}) RETURN e.description AS d", {"id": twin.id})
    assert got == [{"d": "second copy"}]


TRICKY_TEXTS = ["a\nb", "tab\there", 'q"uote', "back\\slash", "end\\", "\\n literal", "ctl\x01",
                "café 😀 \u2028", "it's", "", "x\r\ny", '"id":"x"', "$rows {a: 1}", "\b\f"]


def test_pipelined_batches_keep_every_string_exactly(store: GraphStore) -> None:
    """The orjson header (and its fallback for what FalkorDB cannot read) round-trips text."""
    from kg.store.bulk import params_header

    rows = [
        {"id": f"t{i}", "text": t, "arr": [t, "z"], "f": 0.25} for i, t in enumerate(TRICKY_TEXTS)
    ]
    assert params_header({"rows": rows}) is None  # \x01 needs the library's own quoting
    assert params_header({"rows": rows[:6]}) is not None
    store.apply_schema()
    w = store.batch_writer()
    query = (
        "UNWIND $rows AS row CREATE (:Probe {id: row.id, text: row.text, arr: row.arr, f: row.f})"
    )
    for part in (rows[:6], rows[6:], rows):  # fast path, fallback, fallback
        w.submit(query, {"rows": part}, "probe")
    w.flush()
    w.close()
    got = store.read("MATCH (p:Probe) RETURN p.id AS id, p.text AS t, p.arr AS a, p.f AS f")
    assert len(got) == 2 * len(rows)
    want = {r["id"]: (r["text"], r["arr"], r["f"]) for r in rows}
    assert all((g["t"], g["a"], g["f"]) == want[g["id"]] for g in got)


def test_a_failing_batch_surfaces_at_flush(store: GraphStore) -> None:
    from kg.store.base import StoreError

    w = store.batch_writer()
    w.submit("UNWIND $rows AS row CREATE (:Probe {id: row.id})", {"rows": [{"id": 1}]}, "ok")
    w.submit("UNWIND $rows AS row CREATE (:Probe {id: row.id}", {"rows": [{"id": 2}]}, "bad")
    with pytest.raises(StoreError, match="bad"):
        w.flush()
    w.close()
