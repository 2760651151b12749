"""The retriever everyone calls: BM25, vectors, graph PPR and their fusion over one chunk set.

Two sources, one ranking. Store-backed (the default once the workspace is loaded, and always
with ``--neo4j`` / ``KG_STORE=neo4j``): the chunk list and the entities' name table come from the
store and are cached per load version (re-read when ``kg load`` bumps it), the ``vector`` view
is the store's vector index, entity linking its full-text index, and the graph walk fetches
its neighbourhoods by Cypher (kg.retrieval.store_source, store_graph). In memory (a workspace
never loaded, benchmarks over whole corpora): the same indexes built from the files.
BM25 is an in-memory index in both (the stores' full-text scoring is not BM25's).
"""

from __future__ import annotations

import hashlib
import threading
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
from kg.store.base import StoreError
from kg.text import tokenize

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.retrieval.embed import Embedder
    from kg.retrieval.store_source import StoreSource
    from kg.workspace import Workspace

SEARCH_MODES = ("hybrid", "bm25", "vector", "graph")
VERSION_TTL_S = 1.0  # store-backed: how long a load-version check holds (one query per second)
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


# BM25 + MiniLM + graph: e5 left the default fusion (README "Dense views": +0.009 nDCG on SciFact
# train for ~0.2 CPU-s a passage to index and ~36 ms a query; bench/embed_cost.py). The graph's
# 16 x trust was tuned on 2Wiki.
DEFAULT_WEIGHTS = {"bm25": 0.6, "vector": 0.4, "graph": 16.0}
# BM25 + MiniLM + e5: the best of a 0.1-step grid on SciFact TRAIN (bench/tune_fusion.py), opt-in
E5_WEIGHTS = {"bm25": 0.5, "vector": 0.3, "e5": 0.2, "graph": 16.0}
OLD_WEIGHTS = DEFAULT_WEIGHTS  # the benchmarks' baseline name for the same mix


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_thread():
    """BLAS on one thread for a query: on a busy 2-core box a second thread costs far more."""
    return _blas_controller().limit(limits=1, user_api="blas")


def index_key(chunks: Sequence[Chunk], salt: str = "") -> str:
    """Changes whenever the chunk set changes (ids are content-derived), or ``salt`` does."""
    h = hashlib.sha256(salt.encode())
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
        source: StoreSource | None = None,
    ) -> None:
        self.index_dir = Path(index_dir) if index_dir else None
        self.source = source
        self.load_version = 0
        self.version_ttl_s = VERSION_TTL_S
        self._checked = 0.0
        self._sync_lock = threading.Lock()
        self._build_lock = threading.RLock()
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
    def open(
        cls,
        workspace: Workspace,
        settings: Settings | None = None,
        *,
        store=None,
        backend: str = "auto",
        **kw,
    ) -> Retriever:
        """The retriever for a workspace; caches live in ``<workspace>/index/``.

        ``backend``: "store" answers from the graph store (``store``: an open GraphStore or a
        function returning one; else the store the settings name), "memory" from the
        workspace files, "auto" from the store when the settings name an external one
        (``--neo4j``, KG_FALKORDB_URL) or the workspace was loaded, else from the files. A
        store that cannot be reached raises StoreUnavailable: no answers from stale copies.
        """
        from kg.retrieval.embed_cache import default_embedding_dir

        ws = workspace
        kw.setdefault("embedding_dir", default_embedding_dir())
        if backend not in ("auto", "store", "memory"):
            raise ValueError(f"unknown retrieval backend {backend!r} (auto, store or memory)")
        if backend == "store" or (backend == "auto" and store_wanted(ws, settings, store)):
            from kg.retrieval.store_source import StoreSource

            owned = None
            if store is None:
                from kg.config import Settings as _Settings
                from kg.store import open_store

                store = owned = open_store(settings or _Settings(), ws)
            source = StoreSource(store)
            try:
                held = source.version()  # StoreUnavailable when it is down
            except BaseException:
                if owned is not None:
                    owned.close()
                raise
            if held["version"] or backend == "store" or _external(settings):
                folder = ws.root / "index" / "store"
                r = cls([], index_dir=folder, workspace=ws, source=source, **kw)
                r._owned_store = owned
                return r
            if owned is not None:
                owned.close()
            # an embedded store loaded before load versions existed: the files it was loaded from
        return cls(
            ws.read("chunks"),
            ws.read("entities"),
            ws.read("relations"),
            ws.read("documents"),
            ws.root / "index",
            workspace=ws,
            **kw,
        )

    def close(self) -> None:
        """Close the store this retriever opened itself (a given store is the caller's)."""
        store, self._owned_store = getattr(self, "_owned_store", None), None
        if store is not None:
            store.close()

    def refresh(self) -> None:
        """Re-read the workspace (or the store) after it changed; indexes rebuild only where
        chunks changed."""
        if self.source is not None:
            self.load_version = -1
            self._checked = 0.0
            self.sync()
            return
        if self._workspace is None:
            return
        ws = self._workspace
        self._load(
            ws.read("chunks"), ws.read("entities"), ws.read("relations"), ws.read("documents")
        )

    def sync(self) -> None:
        """Store-backed: re-read the chunk list and name table when the store's load version
        moved (a `kg load` since); one small query otherwise."""
        if self.source is None:
            return
        now = time.monotonic()
        if self.load_version > 0 and now - self._checked < self.version_ttl_s:
            return
        held = self.source.version()
        self._checked = now
        # a load in progress (state "loading") is keyed negative: what is read now is re-read
        # once that load is "ready" under the same number
        current = held["version"] if held["state"] == "ready" else -held["version"]
        if current == self.load_version:
            return
        with self._sync_lock:
            if current == self.load_version:
                return
            if not held["version"]:
                raise StoreError(
                    f"the graph store {self.source.store.identity} holds no kg load: run `kg load`"
                )
            t = time.perf_counter()
            chunks, paths = self.source.chunks()
            entities = self.source.entities()
            self._load(chunks, entities, (), ())
            self.paths = paths
            # on-disk caches (BM25) belong to this store's load, not just to these chunk ids
            self.key = index_key(self.chunks, f"{self.source.store.identity}#{current}")
            self.load_version = current
            self.timings["store_read"] = time.perf_counter() - t

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
        if self._bm25 is not None:
            return self._bm25
        with self._build_lock:  # concurrent first queries: one build (the stemmer is not
            return self._build_bm25()  # thread-safe either)

    def _build_bm25(self) -> BM25Index:
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
        if view in self._dense:
            return self._dense[view]
        with self._build_lock:
            return self._build_dense(view)

    def _build_dense(self, view: str) -> np.ndarray:
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
        if self._graph is not None:
            return self._graph
        with self._build_lock:
            return self._build_graph()

    def _build_graph(self) -> EntityGraph:
        if self._graph is None:
            t = time.perf_counter()
            if self.source is not None:
                from kg.retrieval.store_graph import StoreGraph

                self._graph = StoreGraph(self.chunks, self._entities, self.source)
            else:
                self._graph = EntityGraph(self.chunks, self._entities, self._relations)
            self.timings["graph_build"] = time.perf_counter() - t
        return self._graph

    def build(self) -> Retriever:
        """Build (or load) every index now instead of on the first query."""
        self.sync()
        _ = self.bm25, self.graph
        for view in self.views("hybrid"):
            if not self._in_store(view):
                self.dense(view)
        return self

    def _in_store(self, view: str) -> bool:
        """Whether the store answers this dense view (its vector index holds MiniLM's)."""
        return self.source is not None and view == "vector"

    def _dense_scores(self, view: str, query: str) -> np.ndarray:
        qvec = self.dense_embedder(view).embed_query(query)
        if not self._in_store(view):
            return self.dense(view) @ qvec
        assert self.source is not None
        out = np.full(len(self.chunks), -1.0, dtype=np.float32)  # cosine's floor: not retrieved
        pos = self._positions()
        for cid, score in self.source.nearest_chunks(qvec, min(self.fusion.depth, len(pos))):
            i = pos.get(cid)
            if i is not None:
                out[i] = score
        return out

    def _positions(self) -> dict[str, int]:
        if getattr(self, "_pos_key", None) != self.key:
            self._pos = {c.id: i for i, c in enumerate(self.chunks)}
            self._pos_key = self.key
        return self._pos

    # ---- scoring ----

    def scores(self, query: str, mode: str = "hybrid") -> dict[str, np.ndarray]:
        """Per-retriever score arrays over all chunks, plus the fused ``"score"`` array."""
        if mode not in SCORE_MODES:
            raise BadInput(f"unknown search mode {mode!r} (use one of {', '.join(SEARCH_MODES)})")
        self.sync()
        if not self.chunks:
            return {"score": np.zeros(0)}
        with _one_thread():
            return self._scores(query, mode)

    def _scores(self, query: str, mode: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if mode in ("bm25", "hybrid"):
            out["bm25"] = self.bm25.scores(query)
        for view in self.views(mode):
            out[view] = self._dense_scores(view, query)
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
        self.sync()
        return self.graph.entities_of(self.graph.link(query))

    def facts(self, entity_ids: Iterable[str], limit: int = 20) -> list[GraphFact]:
        self.sync()
        return self.graph.facts(entity_ids, limit)


def _external(settings: Settings | None) -> bool:
    return settings is not None and (settings.store == "neo4j" or bool(settings.falkordb_url))


def store_wanted(workspace: Workspace, settings: Settings | None, store) -> bool:
    """Answer from the store: one was given, the settings name an external one, or this
    workspace was loaded (its loaded.json is the record of a finished load)."""
    if store is not None or _external(settings):
        return True
    return (workspace.root / "loaded.json").is_file()
