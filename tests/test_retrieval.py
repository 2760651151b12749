"""Each retriever on a small hand-written corpus, fusion, persistence and incremental rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kg.models import Chunk, Document, Entity, Evidence, Mention, Relation, SearchHit
from kg.retrieval import FusionConfig, Retriever
from kg.retrieval import fusion as F
from kg.retrieval.bm25 import BM25Index, reference_scores
from kg.text import tokenize

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TEXTS = [
    "Adam is an optimizer with adaptive learning rates for stochastic gradient descent.",
    "Kittens love to sleep curled up in warm sunshine on the windowsill.",
    "BERT is a language model released by Google in 2018.",
    "The Transformer architecture relies entirely on self-attention layers.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "Dropout randomly zeroes activations during training to reduce overfitting.",
]


def _chunks(texts: list[str] = TEXTS) -> tuple[list[Chunk], list[Document]]:
    docs, chunks = [], []
    for i, t in enumerate(texts):
        d = Document.from_text(f"notes/{i}.md", t)
        docs.append(d)
        chunks.append(Chunk.make(d.id, 0, 0, t))
    return chunks, docs


def _entity(name: str, type_: str, chunk: Chunk) -> Entity:
    start = chunk.text.index(name)
    m = Mention(
        chunk_id=chunk.id, doc_id=chunk.doc_id, start=start, end=start + len(name), text=name
    )
    return Entity.make(name, type_, mentions=[m])


def _graph_corpus() -> tuple[list[Chunk], list[Document], list[Entity], list[Relation]]:
    chunks, docs = _chunks()
    bert = _entity("BERT", "Model", chunks[2])
    transformer = _entity("Transformer", "Method", chunks[3])
    adam = _entity("Adam", "Method", chunks[0])
    rel = Relation.make(
        bert.id,
        "BASED_ON",
        transformer.id,
        evidence=[Evidence(chunk_id=chunks[2].id, doc_id=chunks[2].doc_id, start=0, end=4)],
        confidence=0.9,
    )
    return chunks, docs, [bert, transformer, adam], [rel]


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    chunks, docs, ents, rels = _graph_corpus()
    return Retriever.from_chunks(chunks, ents, rels, docs)


def test_tokenize_lowercases_drops_stopwords_and_stems() -> None:
    assert tokenize("The Cells are Dying") == ["cell", "die"]


def test_bm25_ranks_the_keyword_chunk_first(retriever: Retriever) -> None:
    hits = retriever.search("dropout overfitting", mode="bm25", k=3)
    assert hits[0].text.startswith("Dropout")
    assert hits[0].path == "notes/5.md"
    assert set(hits[0].scores) == {"bm25"}
    assert len(hits) == 1  # chunks without any query term are not hits


def test_vector_finds_a_paraphrase_without_shared_words(retriever: Retriever) -> None:
    query = "young cats napping in the sun"
    assert not set(tokenize(query)) & set(tokenize(TEXTS[1]))
    hits = retriever.search(query, mode="vector", k=2)
    assert hits[0].text == TEXTS[1]
    assert -1.0 <= hits[0].score <= 1.0


def test_graph_reaches_a_chunk_two_hops_away_through_a_relation() -> None:
    chunks, docs, ents, rels = _graph_corpus()
    query = "What is BERT built on?"
    with_rel = Retriever.from_chunks(chunks, ents, rels, docs)
    hits = with_rel.search(query, mode="graph", k=3)
    ids = [h.chunk_id for h in hits]
    assert ids[0] == chunks[2].id  # the chunk that names BERT
    assert chunks[3].id in ids  # BERT -> Transformer -> its chunk
    assert chunks[0].id not in ids  # Adam is not connected
    without = Retriever.from_chunks(chunks, ents, [], docs).search(query, mode="graph", k=3)
    assert chunks[3].id not in [h.chunk_id for h in without]


def test_link_entities_exact_and_fuzzy() -> None:
    chunks, docs, ents, rels = _graph_corpus()
    sgd = _entity("stochastic gradient descent", "Method", chunks[0])
    r = Retriever.from_chunks(chunks, [*ents, sgd], rels, docs)
    assert [e.name for e in r.link_entities("tell me about bert")] == ["BERT"]
    assert [e.name for e in r.link_entities("is stochastic gradient decent slow")] == [sgd.name]
    assert r.link_entities("nothing relevant here") == []


def test_facts_give_the_neighbourhood(retriever: Retriever) -> None:
    bert = retriever.link_entities("BERT")[0]
    facts = retriever.facts([bert.id])
    assert [(f.head, f.type, f.tail) for f in facts] == [("BERT", "BASED_ON", "Transformer")]
    assert facts[0].head_type == "Model" and facts[0].chunk_ids
    assert retriever.facts(["ent_unknown"]) == []


def test_hybrid_combines_keyword_and_meaning(retriever: Retriever) -> None:
    hits = retriever.search("Adam optimizer and sleepy kittens in the sunshine", k=3)
    assert all(isinstance(h, SearchHit) for h in hits)
    top2 = {h.text for h in hits[:2]}
    assert top2 == {TEXTS[0], TEXTS[1]}
    assert {"bm25", "vector", "graph"} <= set(hits[0].scores)
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_unknown_mode_is_rejected(retriever: Retriever) -> None:
    with pytest.raises(ValueError, match="unknown search mode"):
        retriever.search("x", mode="cypher")


def test_empty_corpus_returns_no_hits() -> None:
    assert Retriever.from_chunks([]).search("anything") == []


def test_fusion_functions() -> None:
    a = np.array([3.0, 2.0, 1.0, 0.0])
    b = np.array([0.0, 0.9, 1.0, 0.1])
    assert list(F.top_k(a, 2)) == [0, 1]
    conv = F.convex({"a": a, "b": b}, {"a": 0.5, "b": 0.5})
    assert int(np.argmax(conv)) == 1  # second in a, near the top in b
    r = F.rrf({"a": a, "b": b})
    assert r[1] > r[3] and r[0] > 0
    assert list(F.top_k(np.array([1.0, 1.0, 2.0]), 3)) == [2, 0, 1]  # ties: lower index first


def test_rrf_mode_is_selectable() -> None:
    chunks, docs, ents, rels = _graph_corpus()
    r = Retriever.from_chunks(chunks, ents, rels, docs, fusion_config=FusionConfig(method="rrf"))
    assert r.search("Adam optimizer", k=1)[0].text == TEXTS[0]


def test_sparse_bm25_ranks_like_rank_bm25() -> None:
    path = SHARED / "eval" / "scifact" / "corpus.jsonl"
    if not path.is_file():
        pytest.skip("shared eval data not present")
    with path.open() as fh:
        docs = [json.loads(next(fh)) for _ in range(300)]
    tokens = [tokenize(d["title"] + "\n" + d["text"]) for d in docs]
    index = BM25Index.build(tokens)
    for d in docs[:15]:
        query = " ".join(d["title"].split()[:6])
        ours, ref = index.scores(query), reference_scores(tokens, query)
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
        assert list(F.top_k(ours, 10)) == list(F.top_k(ref, 10))


def test_indexes_persist_and_rebuild_incrementally(tmp_path: Path, monkeypatch) -> None:
    chunks, docs = _chunks(TEXTS[:4])
    first = Retriever.from_chunks(chunks, documents=docs, index_dir=tmp_path).build()
    assert first.timings["vector_embedded"] == 4
    for name in ("bm25.npz", "bm25.json", "vectors.npy", "vectors.json"):
        assert (tmp_path / name).is_file()

    def no_rebuild(*a, **k):
        raise AssertionError("BM25 rebuilt although the chunks did not change")

    with monkeypatch.context() as m:
        m.setattr(BM25Index, "build", no_rebuild)
        again = Retriever.from_chunks(chunks, documents=docs, index_dir=tmp_path).build()
    assert again.timings["vector_embedded"] == 0
    np.testing.assert_allclose(again.vectors, first.vectors)

    more, more_docs = _chunks(TEXTS[:5])
    grown = Retriever.from_chunks(more, documents=more_docs, index_dir=tmp_path).build()
    assert grown.timings["vector_embedded"] == 1  # only the new chunk is embedded
    assert grown.search("central bank interest rates", mode="bm25", k=1)[0].text == TEXTS[4]
    saved = json.loads((tmp_path / "vectors.json").read_text())
    assert saved["ids"] == [c.id for c in more]


def test_open_reads_a_workspace_and_refresh_sees_new_chunks(tmp_path: Path) -> None:
    from kg.config import Settings
    from kg.workspace import Workspace

    chunks, docs, ents, rels = _graph_corpus()
    ws = Workspace(tmp_path / ".kg")
    ws.write("documents", docs[:3])
    ws.write("chunks", chunks[:3])
    r = Retriever.open(ws, Settings(workspace=ws.root))
    assert r.search("central bank", mode="bm25") == []
    ws.write("chunks", chunks)
    ws.write("documents", docs)
    ws.write("entities", ents)
    ws.write("relations", rels)
    r.refresh()
    assert r.search("central bank", mode="bm25")[0].text == TEXTS[4]
    assert (ws.root / "index" / "bm25.npz").is_file()
    assert r.facts([ents[0].id])
