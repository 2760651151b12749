"""The retriever everyone calls: BM25, vectors, graph PPR and their fusion over one chunk set."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kg.errors import BadInput
from kg.models import Chunk, Document, Entity, GraphFact, Relation, SearchHit
from kg.retrieval import fusion
from kg.retrieval.bm25 import BM25Index
from kg.retrieval.graph import EntityGraph
from kg.text import tokenize

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.retrieval.embed import Embedder
    from kg.workspace import Workspace

SEARCH_MODES = ("hybrid", "bm25", "vector", "graph")
DENSE_VIEWS = ("vector", "e5")  # MiniLM ("vector") and multilingual-e5-small
SCORE_MODES = (*SEARCH_MODES, "e5")  # "e5" alone: for benchmarks, not offered to users


@dataclass
class FusionConfig:
    """How hybrid mode mixes the retrievers (defaults tuned on SciFact train and 2Wiki)."""

    method: str = "convex"  # convex | rrf
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    depth: int = 100  # how deep each list goes into the fusion (min-max over its top)
    graph_chunk_seeds: int = 0  # first-stage hits that also seed the graph walk (off: hurt 2Wiki)
    chunk_seed_weight: float = 0.5  # their share of the seed mass
    # PPR mass falls off by orders of magnitude per hop; a power < 1 keeps the second hop
    # visible after min-max normalisation (it is monotone, so graph mode is unchanged)
    graph_power: float = 0.1
    bridges: bool = True  # second hops named by the question's relation word (bridges.py)


# BM25 + MiniLM + e5: the best of a 0.1-step grid on SciFact TRAIN (bench/tune_fusion.py; its
# neighbours score within 0.003); the graph's 16 x trust was tuned on 2Wiki
DEFAULT_WEIGHTS = {"bm25": 0.5, "vector": 0.3, "e5": 0.2, "graph": 16.0}
# BM25 + MiniLM + graph, the hybrid before e5 (kept as the benchmarks' baseline)
OLD_WEIGHTS = {"bm25": 0.6, "vector": 0.4, "graph": 16.0}


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_thread():
    """BLAS on one thread for a query: on a busy 2-core box a second thread costs far more."""
    return _blas_controller().limit(limits=1, user_api="blas")


def index_key(chunks: Sequence[Chunk]) -> str:
    """Changes whenever the chunk set changes (ids are content-derived)."""
    h = hashlib.sha256()
    for c in chunks:
        h.update(c.id.encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


class Retriever:
    def __init__(
        self,
        chunks: Sequence[Chunk],
        entities: Iterable[Entity] = (),
        relations: Iterable[Relation] = (),
        documents: Iterable[Document] = (),
        index_dir: Path | None = None,
        *,
        embedder: Embedder | None = None,
        fusion_config: FusionConfig | None = None,
        workspace: Workspace | None = None,
        embedding_dir: Path | None = None,
        e5_embedder=None,
    ) -> None:
        self.index_dir = Path(index_dir) if index_dir else None
        self.fusion = fusion_config or FusionConfig()
        self._embedders: dict[str, object] = {}
        if embedder is not None:
            self._embedders["vector"] = embedder
        if e5_embedder is not None:
            self._embedders["e5"] = e5_embedder
        # the per-model text-hash cache shared by every index (None: index folder only)
        self.embedding_dir = Path(embedding_dir) if embedding_dir else None
        self._workspace = workspace
        self.timings: dict[str, float] = {}
        self._load(chunks, entities, relations, documents)

    # ---- construction ----

    @classmethod
    def from_chunks(
        cls,
        chunks: Sequence[Chunk],
        entities: Iterable[Entity] = (),
        relations: Iterable[Relation] = (),
        documents: Iterable[Document] = (),
        index_dir: Path | None = None,
        **kw,
    ) -> Retriever:
        return cls(chunks, entities, relations, documents, index_dir, **kw)

    @classmethod
    def open(cls, workspace: Workspace, settings: Settings | None = None, **kw) -> Retriever:
        """Read the workspace's JSONL files; indexes live in ``<workspace>/index/``."""
        from kg.retrieval.embed_cache import default_embedding_dir

        ws = workspace
        kw.setdefault("embedding_dir", default_embedding_dir())
        return cls(
            ws.read("chunks"),
            ws.read("entities"),
            ws.read("relations"),
            ws.read("documents"),
            ws.root / "index",
            workspace=ws,
            **kw,
        )

    def refresh(self) -> None:
        """Re-read the workspace after it changed; indexes rebuild only where chunks changed."""
        if self._workspace is None:
            return
        ws = self._workspace
        self._load(
            ws.read("chunks"), ws.read("entities"), ws.read("relations"), ws.read("documents")
        )

    def _load(self, chunks, entities, relations, documents) -> None:
        self.chunks: list[Chunk] = list(chunks)
        self.paths = {d.id: d.path for d in documents}
        self.key = index_key(self.chunks)
        self._entities = list(entities)
        self._relations = list(relations)
        self._bm25: BM25Index | None = None
        self._dense: dict[str, np.ndarray] = {}
        self._graph: EntityGraph | None = None

    # ---- the three indexes, built on first use ----

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            t = time.perf_counter()
            idx = BM25Index.load(self.index_dir, self.key) if self.index_dir else None
            if idx is None or idx.size != len(self.chunks):
                idx = BM25Index.build([tokenize(c.text) for c in self.chunks])
                if self.index_dir:
                    idx.save(self.index_dir, self.key)
            self._bm25 = idx
            self.timings["bm25_build"] = time.perf_counter() - t
        return self._bm25

    def dense_embedder(self, view: str):
        """The model behind a dense view, loaded once per process."""
        if view not in self._embedders:
            if view == "e5":
                from kg.retrieval.e5 import shared_e5

                self._embedders[view] = shared_e5()
            else:
                from kg.retrieval.embed import shared_embedder

                self._embedders[view] = shared_embedder()
        return self._embedders[view]

    @property
    def embedder(self) -> Embedder:
        return self.dense_embedder("vector")

    def dense(self, view: str) -> np.ndarray:
        """Chunk vectors of a dense view (``vector`` = MiniLM, ``e5``), built on first use."""
        if view not in self._dense:
            from kg.retrieval.embed_cache import EmbeddingCache
            from kg.retrieval.vectors import load_vectors

            t = time.perf_counter()
            emb = self.dense_embedder(view)
            cache = (
                EmbeddingCache(self.embedding_dir, emb.model_id, emb.dim)
                if self.embedding_dir
                else None
            )
            self._dense[view], embedded = load_vectors(
                [c.id for c in self.chunks],
                [c.text for c in self.chunks],
                self.index_dir,
                emb,
                name="vectors" if view == "vector" else f"vectors-{view}",
                cache=cache,
            )
            self.timings[f"{view}_build"] = time.perf_counter() - t
            self.timings[f"{view}_embedded"] = float(embedded)
        return self._dense[view]

    @property
    def vectors(self) -> np.ndarray:
        return self.dense("vector")

    def views(self, mode: str = "hybrid") -> list[str]:
        """The dense views a mode reads: one for ``vector``/``e5``, the weighted ones for hybrid."""
        if mode in DENSE_VIEWS:
            return [mode]
        if mode == "hybrid":
            return [v for v in DENSE_VIEWS if self.fusion.weights.get(v, 0) > 0]
        return []

    @property
    def graph(self) -> EntityGraph:
        if self._graph is None:
            t = time.perf_counter()
            self._graph = EntityGraph(self.chunks, self._entities, self._relations)
            self.timings["graph_build"] = time.perf_counter() - t
        return self._graph

    def build(self) -> Retriever:
        """Build (or load) every index now instead of on the first query."""
        _ = self.bm25, self.graph
        for view in self.views("hybrid"):
            self.dense(view)
        return self

    # ---- scoring ----

    def scores(self, query: str, mode: str = "hybrid") -> dict[str, np.ndarray]:
        """Per-retriever score arrays over all chunks, plus the fused ``"score"`` array."""
        if mode not in SCORE_MODES:
            raise BadInput(f"unknown search mode {mode!r} (use one of {', '.join(SEARCH_MODES)})")
        if not self.chunks:
            return {"score": np.zeros(0)}
        with _one_thread():
            return self._scores(query, mode)

    def _scores(self, query: str, mode: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if mode in ("bm25", "hybrid"):
            out["bm25"] = self.bm25.scores(query)
        for view in self.views(mode):
            out[view] = self.dense(view) @ self.dense_embedder(view).embed_query(query)
        if mode == "graph":
            out["graph"] = self.graph.scores(query, self.fusion.bridges)
        if mode != "hybrid":
            out["score"] = out[mode]
            return out
        cfg = self.fusion
        fused = {k: v for k, v in out.items() if cfg.weights.get(k, 0) > 0}
        first = self._fuse(fused)
        weights = dict(cfg.weights)
        if cfg.weights.get("graph", 0) > 0:
            out["graph"], trust = self._graph_scores(query, first)
            fused["graph"] = np.power(out["graph"], cfg.graph_power)
            weights["graph"] = cfg.weights["graph"] * trust
        out["score"] = self._fuse(fused, weights)
        return out

    def _fuse(
        self, scores: dict[str, np.ndarray], weights: dict[str, float] | None = None
    ) -> np.ndarray:
        cfg = self.fusion
        if cfg.method == "rrf":
            return fusion.rrf(scores, cfg.depth)
        return fusion.convex(scores, weights or cfg.weights, cfg.depth)

    def _graph_scores(self, query: str, first: np.ndarray) -> tuple[np.ndarray, float]:
        """PPR scores and how far to trust them (0..1).

        A question that names a rare entity with a page of its own (a title) is the graph's
        strength; otherwise the ranking is left to BM25 and vectors.
        """
        g, cfg = self.graph, self.fusion
        links = g.link(query)
        seeds = g.seed_weights(links)
        trust = g.trust(seeds)
        chunk_seeds: dict[int, float] = {}
        if cfg.graph_chunk_seeds > 0:
            top = fusion.top_k(first, cfg.graph_chunk_seeds)
            vals = first[top]
            if vals.max() > 0:
                share = cfg.chunk_seed_weight if seeds else 1.0
                mass = (
                    vals
                    / vals.sum()
                    * share
                    * (sum(seeds.values()) / (1 - share) if seeds and share < 1 else 1.0)
                )
                chunk_seeds = {int(i): float(m) for i, m in zip(top, mass, strict=True)}
        return g.walk(query, links, chunk_seeds, cfg.bridges), trust

    def search(self, query: str, mode: str = "hybrid", k: int = 10) -> list[SearchHit]:
        """The k best chunks for ``query``; ``SearchHit.scores`` keeps each retriever's score."""
        all_scores = self.scores(query, mode)
        final = all_scores["score"]
        hits: list[SearchHit] = []
        for i in fusion.top_k(final, k):
            if final[i] <= 0 and mode not in DENSE_VIEWS:
                break
            c = self.chunks[int(i)]
            hits.append(
                SearchHit(
                    chunk_id=c.id,
                    doc_id=c.doc_id,
                    path=self.paths.get(c.doc_id, ""),
                    start=c.start,
                    end=c.end,
                    text=c.text,
                    score=float(final[i]),
                    scores={n: float(s[i]) for n, s in all_scores.items() if n != "score"},
                )
            )
        return hits

    # ---- entities and facts ----

    def link_entities(self, query: str) -> list[Entity]:
        return self.graph.entities_of(self.graph.link(query))

    def facts(self, entity_ids: Iterable[str], limit: int = 20) -> list[GraphFact]:
        return self.graph.facts(entity_ids, limit)
