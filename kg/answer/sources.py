"""What the answer flow reads from a workspace: chunks, paths, summaries, entity mentions by
chunk, the facts of an entity by name, and a retrieval for the second hop."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kg.answer.candidates import Mention
from kg.models import GraphFact, SearchHit, normalize_name

FACTS_PER_NAME = 12


class WorkspaceSources:
    """``kg.answer.flow.Sources`` over a workspace's records (built once, kept by the facade)."""

    def __init__(
        self,
        chunks: Mapping[str, Any],
        paths: Mapping[str, str],
        entities: Mapping[str, Any],
        relations: Iterable[Any],
        summaries: Sequence[Any] = (),
        ontology: Any = None,
        search: Callable[[str, int], list[SearchHit]] | None = None,
        embedder: Callable[[], Any] | None = None,
    ) -> None:
        self.chunks, self.paths, self.summaries, self.ontology = chunks, paths, summaries, ontology
        self._entities = entities
        self._search = search
        self._embedder = embedder
        self._cache: Any = None
        mentions: dict[str, list[Mention]] = defaultdict(list)
        by_name: dict[str, list[str]] = defaultdict(list)
        for e in entities.values():
            by_name[normalize_name(e.name)].append(e.id)
            for m in e.mentions:
                mentions[m.chunk_id].append(Mention(m.start, m.end, e.name, e.type, e.id))
        self.mentions: Mapping[str, Sequence[Mention]] = dict(mentions)
        self._by_name = by_name
        self._relations: dict[str, list[Any]] = defaultdict(list)
        for r in relations:
            self._relations[r.head_id].append(r)
            self._relations[r.tail_id].append(r)

    def facts_of(self, name: str) -> list[GraphFact]:
        """The relations of the entities called ``name``, most confident first, with spans."""
        rels = [
            r for eid in self._by_name.get(normalize_name(name), []) for r in self._relations[eid]
        ]
        rels.sort(key=lambda r: -r.confidence)
        out: list[GraphFact] = []
        for r in rels:
            head, tail = self._entities.get(r.head_id), self._entities.get(r.tail_id)
            if head is not None and tail is not None:
                out.append(GraphFact.of(r, head, tail, evidence=True))
            if len(out) == FACTS_PER_NAME:
                break
        return out

    def similarity(self, query: str, texts: list[str]) -> list[float]:
        """Cosine similarity of ``query`` to each text (MiniLM; texts cached on disk by hash)."""
        if self._embedder is None or not texts:
            return [0.0] * len(texts)
        emb = self._embedder()
        if self._cache is None:
            from kg.retrieval.embed_cache import EmbeddingCache, default_embedding_dir

            self._cache = EmbeddingCache(default_embedding_dir(), emb.model_id, emb.dim)
        vecs, _ = self._cache.get_or_encode(texts, lambda batch: emb.embed(batch, batch_size=8))
        return [float(x) for x in vecs @ emb.embed_query(query)]

    def search(self, query: str, k: int) -> list[SearchHit]:
        return self._search(query, k) if self._search is not None else []
