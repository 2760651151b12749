"""Graph retrieval: link the question's entities, then personalized PageRank (HippoRAG's idea).

Nodes are entity names (entities sharing a normalised name or alias are one node, so a spaCy
PERSON "Ed Wood" and a title entity "Ed Wood" meet) and chunks. Edges: entity-chunk for each
mention (stronger when the mention opens the chunk: that chunk is *about* the entity) and
entity-entity for each relation. A walk seeded on the linked entities reaches chunks that are
one or two hops away from anything the question names.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from kg.models import Chunk, Entity, GraphFact, Relation, normalize_name
from kg.retrieval.bridges import Bridges

DAMPING = 0.7  # chance to keep walking at each step (tuned on 2Wiki; HippoRAG uses 0.5)
LEAD_WEIGHT = 8.0  # edge weight of a mention that opens a chunk (a title, a heading)
LEAD_CHARS = 3
PPR_ITERATIONS = 20  # 0.7^20 < 0.001: later steps do not change the ranking
PPR_PRUNE = 3e-5  # walk mass below this stops spreading
RELATION_WEIGHT = 1.0
MAX_NGRAM = 8
FUZZY_CUTOFF = 90.0
WEAK_TYPES = frozenset({"Concept"})  # bare noun chunks: seeds, but weak ones
WEAK_WEIGHT = 0.05
UNTITLED_TRUST = 0.0  # hybrid's trust in links to entities that title no chunk (SciFact: 0 best)

_WORD = re.compile(r"[^\s,?!;:()\"“”]+")
_POSSESSIVE = re.compile(r"['’][sS]$|['’]$")
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
_INNER_PUNCT = re.compile(r"[,:;!?]")
_SPACE = re.compile(r"\s+")
_BRACKETS = re.compile(r"[()]")
BRIDGES = True  # lift pages reached through a question-named relation word (bridges.py)


def key_of(text: str) -> str:
    """The lookup key of a name or n-gram: ``normalize_name`` without inner , : ; ! ?."""
    return _SPACE.sub(" ", _INNER_PUNCT.sub("", normalize_name(text))).strip()


def name_keys(name: str) -> set[str]:
    """Lookup keys of a name: as is, without a trailing "(film)"-style qualifier, with its
    brackets dropped (a question reads "Dark River (2017 Film)?" as words), without "'s"."""
    keys = {key_of(name), key_of(_BRACKETS.sub(" ", name)), key_of(_POSSESSIVE.sub("", name))}
    bare = _PAREN.sub("", name)
    if bare and bare != name:
        keys.add(key_of(bare))
    return {k for k in keys if k}


def _stable(p: np.ndarray) -> np.ndarray:
    """Walk mass rounded to float32: the store-backed walk sums the same terms in another order,
    and the last bits must not reorder chunks that tie."""
    return p.astype(np.float32).astype(np.float64)


@dataclass
class Link:
    node: int
    key: str
    score: float


class EntityGraph:
    def __init__(
        self,
        chunks: Sequence[Chunk],
        entities: Iterable[Entity] = (),
        relations: Iterable[Relation] = (),
    ) -> None:
        edges = self._build_nodes(chunks, entities)
        self.relations: list[Relation] = []
        for rel in relations:
            h, t = self.entity_node.get(rel.head_id), self.entity_node.get(rel.tail_id)
            if h is None or t is None or h == t:
                continue
            self.relations.append(rel)
            edges[(h, t)] += RELATION_WEIGHT * rel.confidence
        size = self.size
        if edges:
            rows, cols = zip(*edges.keys(), strict=True)
            vals = np.fromiter(edges.values(), dtype=np.float64)
            a = sparse.coo_matrix((vals, (rows, cols)), shape=(size, size)).tocsr()
            a = a + a.T
        else:
            a = sparse.csr_matrix((size, size))
        out = np.asarray(a.sum(axis=0)).ravel()
        inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
        self.transition_csc = (a @ sparse.diags(inv)).tocsc()  # column-stochastic

    def _build_nodes(
        self, chunks: Sequence[Chunk], entities: Iterable[Entity]
    ) -> dict[tuple[int, int], float]:
        """The node table (names -> nodes, titled nodes, chunk counts, bridges); returns the
        entity-chunk edges (the store-backed graph fetches those per query instead)."""
        self.chunk_ids = [c.id for c in chunks]
        chunk_pos = {c.id: i for i, c in enumerate(chunks)}
        chunk_start = {c.id: c.start for c in chunks}
        chunk_text = {c.id: c.text for c in chunks}
        self.node_keys: list[str] = []  # canonical key per entity node
        self.node_entities: list[list[Entity]] = []
        self.lookup: dict[str, int] = {}  # any key (name or alias) -> node
        self.entity_node: dict[str, int] = {}  # entity id -> node
        for ent in entities:
            node = self._node_for(ent)
            self.node_entities[node].append(ent)
            self.entity_node[ent.id] = node
        n_ent, n_chk = len(self.node_keys), len(chunks)
        self.n_entities = n_ent
        edges: dict[tuple[int, int], float] = defaultdict(float)
        mention_chunks: list[set[int]] = [set() for _ in range(n_ent)]
        self.titled = np.zeros(n_ent, dtype=bool)  # some chunk's first line is this name
        title_chunks: dict[int, list[int]] = defaultdict(list)
        mention_at: list[tuple[int, int, int]] = []
        for node, ents in enumerate(self.node_entities):
            for ent in ents:
                for m in ent.mentions:
                    pos = chunk_pos.get(m.chunk_id)
                    if pos is None:
                        continue
                    lead = m.start - chunk_start[m.chunk_id] < LEAD_CHARS
                    text = chunk_text[m.chunk_id]
                    rest = m.end - chunk_start[m.chunk_id]
                    if lead and (rest >= len(text) or text[rest] == "\n"):
                        self.titled[node] = True
                        title_chunks[node].append(pos)
                    mention_at.append((pos, node, m.start - chunk_start[m.chunk_id]))
                    w = LEAD_WEIGHT if lead else 1.0
                    edges[(node, n_ent + pos)] = max(edges[(node, n_ent + pos)], w)
                    mention_chunks[node].add(pos)
        self.bridges = Bridges.build([c.text for c in chunks], mention_at, dict(title_chunks))
        self.chunk_count = np.array([len(s) for s in mention_chunks], dtype=np.float64)
        self.size = n_ent + n_chk
        self._by_token: dict[str, list[str]] = defaultdict(list)
        for key in self.lookup:
            words = key.split()
            if 1 < len(words) <= MAX_NGRAM:
                self._by_token[words[0]].append(key)
                self._by_token[words[-1]].append(key)
        return edges

    def _node_for(self, ent: Entity) -> int:
        keys = name_keys(ent.name)
        for alias in ent.aliases:
            keys |= name_keys(alias)
        main = key_of(ent.name)
        node = self.lookup.get(main)
        if node is None:
            node = len(self.node_keys)
            self.node_keys.append(main)
            self.node_entities.append([])
        for k in keys:
            self.lookup.setdefault(k, node)
        return node

    # ---- linking ----

    def link(self, query: str, fuzzy: bool = True) -> list[Link]:
        """Entity nodes named in the query: longest exact n-grams first, then fuzzy ones."""
        return self._link(query, fuzzy, self.lookup, self._by_token)

    def _link(
        self,
        query: str,
        fuzzy: bool,
        lookup: dict[str, int],
        by_token: dict[str, list[str]],
    ) -> list[Link]:
        """``link`` over a name table (all names, or the store's full-text candidates)."""
        from kg.text import STOPWORDS

        words = _WORD.findall(query)
        variants = [words, [_POSSESSIVE.sub("", w) for w in words]]
        found: dict[int, Link] = {}
        covered: set[int] = set()
        for exact in (True, False) if fuzzy else (True,):
            for n in range(min(MAX_NGRAM, len(words)), 0 if exact else 1, -1):
                for i in range(len(words) - n + 1):
                    span = set(range(i, i + n))
                    if span & covered if not exact else span <= covered:
                        continue
                    for ws in variants:
                        gram = ws[i : i + n]
                        key = key_of(" ".join(gram))
                        if exact:
                            node = lookup.get(key)
                        elif gram[0].lower() in STOPWORDS or gram[-1].lower() in STOPWORDS:
                            node = None
                        else:
                            node = self._fuzzy(key, by_token)
                        if node is not None and not self._stop(key):
                            found.setdefault(node, Link(node, key, float(n)))
                            covered |= span
                            break
        return sorted(found.values(), key=lambda lk: -lk.score)

    def _fuzzy(self, key: str, by_token: dict[str, list[str]]) -> int | None:
        from rapidfuzz import fuzz, process

        words = key.split()
        if len(key) < 6 or not words:
            return None
        cands = set(by_token.get(words[0], ())) | set(by_token.get(words[-1], ()))
        if not cands:
            return None
        best = process.extractOne(key, cands, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        return self.lookup[best[0]] if best else None

    @staticmethod
    def _stop(key: str) -> bool:
        from kg.text import STOPWORDS

        return all(w in STOPWORDS for w in key.split()) or len(key) < 2

    # ---- ranking ----

    def seed_weights(self, links: Sequence[Link]) -> dict[int, float]:
        """Seed mass per node: rarer entities (fewer chunks) weigh more, like HippoRAG."""
        out = {}
        for lk in links:
            w = 1.0 / np.sqrt(max(self.chunk_count[lk.node], 1.0))
            if all(e.type in WEAK_TYPES for e in self.node_entities[lk.node]):
                w *= WEAK_WEIGHT
            out[lk.node] = w
        return out

    def trust(self, seeds: dict[int, float]) -> float:
        """How much a question's links say: high when it names an entity that titles a chunk."""
        return max(
            (w * (1.0 if self.titled[n] else UNTITLED_TRUST) for n, w in seeds.items()),
            default=0.0,
        )

    def ppr(
        self, entity_seeds: dict[int, float], chunk_seeds: dict[int, float] | None = None
    ) -> np.ndarray:
        """Chunk scores from personalized PageRank seeded on entity (and optionally chunk) nodes."""
        s = np.zeros(self.size, dtype=np.float64)
        for node, w in entity_seeds.items():
            s[node] += w
        for pos, w in (chunk_seeds or {}).items():
            s[self.n_entities + pos] += w
        total = s.sum()
        if total <= 0:
            return np.zeros(len(self.chunk_ids))
        s /= total
        # PPR = (1 - d) * sum_k d^k T^k s. Each step only walks from nodes still holding
        # mass above PPR_PRUNE, so the cost follows the seeds' neighbourhood, not the graph.
        p = (1 - DAMPING) * s
        walk = s
        for _ in range(PPR_ITERATIONS):
            active = np.flatnonzero(walk > PPR_PRUNE)
            if len(active) == 0:
                break
            sub = self.columns(active)
            nxt = DAMPING * (sub @ walk[active])
            p += (1 - DAMPING) * nxt
            walk = nxt
        return _stable(p[self.n_entities :])

    def columns(self, nodes: np.ndarray) -> sparse.csc_matrix:
        """The transition matrix's columns of ``nodes`` (the walk only reads active ones)."""
        return self.transition_csc[:, nodes]

    def walk(
        self,
        query: str,
        links: Sequence[Link],
        chunk_seeds: dict[int, float] | None = None,
        bridges: bool = BRIDGES,
    ) -> np.ndarray:
        """PPR from the linked entities, then the question-named second hops (``Bridges``)."""
        p = self.ppr(self.seed_weights(links), chunk_seeds)
        named = [lk for lk in links if self.titled[lk.node]]  # pages the question names
        if bridges and named:
            p = self.bridges.boost(query, [lk.key for lk in named], [lk.node for lk in named], p)
        return p

    def scores(self, query: str, bridges: bool = BRIDGES) -> np.ndarray:
        return self.walk(query, self.link(query), bridges=bridges)

    # ---- answers' context ----

    def entities_of(self, links: Sequence[Link]) -> list[Entity]:
        return [self.node_entities[lk.node][0] for lk in links if self.node_entities[lk.node]]

    def facts(self, entity_ids: Iterable[str], limit: int = 20) -> list[GraphFact]:
        """Relations touching the given entities (or others with the same name), best first."""
        nodes = {self.entity_node[e] for e in entity_ids if e in self.entity_node}
        by_id = {e.id: e for ents in self.node_entities for e in ents}
        picked = [
            r
            for r in self.relations
            if self.entity_node[r.head_id] in nodes or self.entity_node[r.tail_id] in nodes
        ]
        picked.sort(key=lambda r: (-r.confidence, r.id))
        out: list[GraphFact] = []
        for r in picked[:limit]:
            head, tail = by_id[r.head_id], by_id[r.tail_id]
            out.append(GraphFact.of(r, head, tail))
        return out
