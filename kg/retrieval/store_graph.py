"""The graph retriever over the store: link by its full-text index, walk by Cypher.

``EntityGraph`` holds the whole graph in a sparse matrix. Here only the name table is cached
(entities grouped into nodes by name, which names title a chunk, how many chunks each node is
in: what linking and seeding need, read once per load version); the edges come from the store
per question. The personalized PageRank only ever reads the columns of the nodes that still hold
walk mass (``EntityGraph.ppr``), so each step fetches the mentions and relations of the newly
reached nodes (``cypher/retrieval/entity_mentions``, ``entity_relations``, ``chunk_edges``) and
runs on that subgraph: the same walk as over the whole graph. Fetched columns are cached for
the load version (the store's edges cannot change under it). Facts come from
``cypher/retrieval/facts``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from kg.models import Chunk, Entity, GraphFact
from kg.retrieval.graph import (
    LEAD_CHARS,
    LEAD_WEIGHT,
    MAX_NGRAM,
    RELATION_WEIGHT,
    EntityGraph,
    Link,
    name_keys,
)
from kg.retrieval.store_source import StoreSource

# fetched columns are kept for the life of this graph, i.e. of one load version (the retriever
# builds a new StoreGraph when the store's load version moves): the store's edges cannot
# change under a version, and a cold walk costs a few store round trips per step
MAX_COLUMNS = 200_000


class StoreGraph(EntityGraph):
    def __init__(self, chunks: Sequence[Chunk], entities: Iterable[Entity], source: StoreSource):
        self.source = source
        self._build_nodes(chunks, entities)  # the edges are the store's, fetched per walk
        self.relations = []
        self.chunk_pos = {cid: i for i, cid in enumerate(self.chunk_ids)}
        self.node_ids = [[e.id for e in ents] for ents in self.node_entities]
        self._cols: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._node_keys: dict[int, set[str]] = {}
        self.fetches = 0  # store round trips of the last walk

    # ---- linking: candidates from the full-text index ----

    def link(self, query: str, fuzzy: bool = True) -> list[Link]:
        keys: set[str] = set()
        for eid in self.source.entities_named(query):
            node = self.entity_node.get(eid)
            if node is not None:
                keys |= self._keys_of(node)
        lookup = {k: self.lookup[k] for k in keys if k in self.lookup}
        by_token: dict[str, list[str]] = defaultdict(list)
        for key in lookup:
            words = key.split()
            if 1 < len(words) <= MAX_NGRAM:
                by_token[words[0]].append(key)
                by_token[words[-1]].append(key)
        return self._link(query, fuzzy, lookup, by_token)

    def _keys_of(self, node: int) -> set[str]:
        """Every lookup key of a node's names and aliases (cached: linking asks per question)."""
        keys = self._node_keys.get(node)
        if keys is None:
            keys = set()
            for ent in self.node_entities[node]:
                keys |= name_keys(ent.name)
                for alias in ent.aliases:
                    keys |= name_keys(alias)
            self._node_keys[node] = keys
        return keys

    # ---- the walk's columns, from the store ----

    def ppr(
        self, entity_seeds: dict[int, float], chunk_seeds: dict[int, float] | None = None
    ) -> np.ndarray:
        self.fetches = 0
        if len(self._cols) > MAX_COLUMNS:  # bound the cache; it refills from the store
            self._cols = {}
        return super().ppr(entity_seeds, chunk_seeds)

    def columns(self, nodes: np.ndarray) -> sparse.csc_matrix:
        missing = [int(n) for n in nodes if int(n) not in self._cols]
        if missing:
            self._fetch(missing)
        indptr, rows, vals = [0], [], []
        for n in nodes:
            r, v = self._cols[int(n)]
            rows.append(r)
            vals.append(v)
            indptr.append(indptr[-1] + len(r))
        data = np.concatenate(vals) if vals else np.zeros(0)
        index = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return sparse.csc_matrix((data, index, indptr), shape=(self.size, len(nodes)))

    def _fetch(self, nodes: list[int]) -> None:
        n_ent = self.n_entities
        ents = [n for n in nodes if n < n_ent]
        chunks = [n for n in nodes if n >= n_ent]
        if ents:
            ids = [eid for n in ents for eid in self.node_ids[n]]
            edges = self.source.entity_edges(ids)
            self.fetches += 1
            for n in ents:
                col: dict[int, float] = defaultdict(float)
                for eid in self.node_ids[n]:
                    mentions, relations = edges.get(eid, ([], []))
                    for chunk_id, offset in mentions:
                        pos = self.chunk_pos.get(chunk_id)
                        if pos is not None:
                            w = LEAD_WEIGHT if offset < LEAD_CHARS else 1.0
                            col[n_ent + pos] = max(col[n_ent + pos], w)
                    for other, confidence in relations:
                        m = self.entity_node.get(other)
                        if m is not None and m != n:
                            col[m] += RELATION_WEIGHT * confidence
                self._cols[n] = _normalised(col)
        if chunks:
            edges_of = self.source.chunk_edges([self.chunk_ids[n - n_ent] for n in chunks])
            self.fetches += 1
            for n in chunks:
                col = defaultdict(float)
                for eid, offset in edges_of.get(self.chunk_ids[n - n_ent], ()):
                    m = self.entity_node.get(eid)
                    if m is not None:
                        col[m] = max(col[m], LEAD_WEIGHT if offset < LEAD_CHARS else 1.0)
                self._cols[n] = _normalised(col)

    # ---- answers' context ----

    def facts(self, entity_ids: Iterable[str], limit: int = 20) -> list[GraphFact]:
        nodes = {self.entity_node[e] for e in entity_ids if e in self.entity_node}
        ids = [eid for n in sorted(nodes) for eid in self.node_ids[n]]
        if not ids:
            return []
        out: list[GraphFact] = []
        for r in self.source.facts(ids, limit * 4 + 10):
            h, t = self.entity_node.get(r["head_id"]), self.entity_node.get(r["tail_id"])
            if h is None or t is None or h == t:
                continue  # as EntityGraph: an edge within one name is no fact
            out.append(
                GraphFact(head=r["head"], type=r["type"], tail=r["tail"],
                          head_type=r["head_type"], tail_type=r["tail_type"],
                          chunk_ids=sorted(set(r["chunk_ids"] or [])))
            )  # fmt: skip
            if len(out) >= limit:
                break
        return out


def _normalised(col: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """A column of the column-stochastic transition matrix: rows sorted, values / degree."""
    if not col:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    rows = np.array(sorted(col), dtype=np.int64)
    vals = np.array([col[int(r)] for r in rows], dtype=np.float64)
    return rows, vals * (1.0 / vals.sum())
