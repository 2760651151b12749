"""A small in-memory stand-in for ``app.service.KG``, for the app and API unit tests.

It implements the facade's interface over a handful of hand-made chunks and entities, and
raises the same kinds of errors the real one does (a read-only guard, a store that is down).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.errors import BadInput, StoreUnavailable, UnsafeCypherError  # the real classes: isinstance
from kg.models import (
    Answer,
    Citation,
    CypherTable,
    Entity,
    EntityDetail,
    GraphEdge,
    GraphFact,
    GraphNode,
    Manifest,
    Mention,
    SearchHit,
    Status,
    Subgraph,
)

CHUNKS = {
    "chk_1": (
        "doc_a",
        "notes/transformers.md",
        0,
        "Transformers use self-attention. BERT is a transformer encoder.",
    ),
    "chk_2": ("doc_a", "notes/transformers.md", 64, "GPT-2 was trained on WebText by OpenAI."),
    "chk_3": ("doc_b", "notes/course.md", 0, "The deep learning course is taught by Andrew Ng."),
}
ENTITIES = {
    "ent_bert": Entity(
        id="ent_bert",
        name="BERT",
        type="Model",
        mentions=[Mention(chunk_id="chk_1", doc_id="doc_a", start=33, end=37, text="BERT")],
    ),
    "ent_tr": Entity(id="ent_tr", name="Transformer", type="Concept"),
    "ent_gpt2": Entity(id="ent_gpt2", name="GPT-2", type="Model"),
    "ent_openai": Entity(id="ent_openai", name="OpenAI", type="Organization"),
}
RELATIONS = [
    ("ent_bert", "IS_A", "ent_tr"),
    ("ent_gpt2", "IS_A", "ent_tr"),
    ("ent_gpt2", "AUTHORED_BY", "ent_openai"),
]
_WRITE = re.compile(r"\b(CREATE|MERGE|DELETE|SET|REMOVE|DROP|LOAD)\b", re.IGNORECASE)


@dataclass
class BrowserQuery:
    name: str
    description: str
    query: str
    params: dict[str, Any] = field(default_factory=dict)


class FakeKG:
    def __init__(
        self, *, store_down: bool = False, llm_error: str | None = None, store_empty: bool = False
    ) -> None:
        self.store_down = store_down
        self.store_empty = store_empty
        self.llm_error = llm_error
        self.calls: list[tuple[str, Any]] = []
        self.ingested: list[Path] = []

    def status(self) -> Status:
        return Status(
            workspace="/tmp/fake",
            manifest=Manifest(
                kg_version="0",
                created_at="2026-01-01T00:00:00Z",
                counts={"documents": 2, "chunks": len(CHUNKS)},
            ),
            store="fake",
            store_counts={} if self.store_down else {"nodes": 0 if self.store_empty else 7},
            store_error="connection refused" if self.store_down else None,
            llm="off" if self.llm_error is None else "unavailable",
            llm_error=self.llm_error,
        )

    def _check(self, text: str) -> str:
        text = (text or "").strip()
        if not text:
            raise BadInput("the question is empty")
        if len(text) > 4000:
            raise BadInput("the question is too long")
        return text

    def search(self, query: str, mode: str = "hybrid", k: int = 8) -> list[SearchHit]:
        query = self._check(query)
        self.calls.append(("search", (query, mode, k)))
        words = {w.lower() for w in re.findall(r"\w+", query)}
        scored = []
        for cid, (doc, path, start, text) in CHUNKS.items():
            score = float(len(words & {w.lower() for w in re.findall(r"\w+", text)}))
            if score:
                scored.append(
                    SearchHit(
                        chunk_id=cid,
                        doc_id=doc,
                        path=path,
                        start=start,
                        end=start + len(text),
                        text=text,
                        score=score,
                        scores={"bm25": score},
                    )
                )
        return sorted(scored, key=lambda h: -h.score)[:k]

    def stream_ask(
        self,
        question: str,
        mode: str = "hybrid",
        k: int = 6,
        history: Sequence[tuple[str, str]] = (),
        on_retrieval: Callable[[list[SearchHit], list[GraphFact]], None] | None = None,
        path: str = "sentence",
    ) -> Iterator[str | Answer]:
        hits = self.search(question, mode=mode, k=k)
        self.calls.append(("ask", (question, mode, k, list(history))))
        if self.store_down:
            raise StoreUnavailable("FalkorDB is not running")
        if on_retrieval is not None:
            on_retrieval(hits, [])
        text = hits[0].text if hits else "I found nothing about that in your notes."
        for word in text.split(" "):
            yield word + " "
        citations = [
            Citation(
                n=i,
                chunk_id=h.chunk_id,
                doc_id=h.doc_id,
                path=h.path,
                start=h.start,
                end=h.end,
                snippet=h.text[:80],
                text=h.text,
            )
            for i, h in enumerate(hits, 1)
        ]
        facts = (
            [
                GraphFact(
                    head="BERT",
                    type="IS_A",
                    tail="Transformer",
                    head_type="Model",
                    tail_type="Concept",
                )
            ]
            if hits
            else []
        )
        yield Answer(
            question=question,
            answer=text + (" [1]" if hits else ""),
            citations=citations,
            facts=facts,
            mode=mode,
            timings={"retrieval_s": 0.01, "answer_s": 0.0},
        )

    def ask(
        self,
        question: str,
        mode: str = "hybrid",
        k: int = 6,
        history: Sequence[tuple[str, str]] = (),
        path: str = "sentence",
    ) -> Answer:
        items = list(self.stream_ask(question, mode, k, history, path=path))
        assert isinstance(items[-1], Answer)
        return items[-1]

    def find_entities(self, q: str, limit: int = 10) -> list[Entity]:
        q = self._check(q).lower()
        return [e for e in ENTITIES.values() if e.name.lower() in q or q in e.name.lower()][:limit]

    def entity(self, entity_id: str) -> EntityDetail | None:
        e = ENTITIES.get(entity_id)
        if e is None:
            return None
        facts = [
            GraphFact(head=ENTITIES[h].name, type=t, tail=ENTITIES[tl].name)
            for h, t, tl in RELATIONS
            if entity_id in (h, tl)
        ]
        snippets = [
            Citation(
                n=i,
                chunk_id=m.chunk_id,
                doc_id=m.doc_id,
                path=CHUNKS[m.chunk_id][1],
                start=m.start,
                end=m.end,
                snippet=CHUNKS[m.chunk_id][3][:60],
                text=CHUNKS[m.chunk_id][3],
            )
            for i, m in enumerate(e.mentions, 1)
        ]
        return EntityDetail(entity=e, facts=facts, snippets=snippets)

    def subgraph(self, entity_ids: Sequence[str], hops: int = 1, limit: int = 60) -> Subgraph:
        seeds = {e for e in entity_ids if e in ENTITIES}
        edges = [
            GraphEdge(source=h, target=tl, type=t)
            for h, t, tl in RELATIONS
            if h in seeds or tl in seeds
        ]
        ids = seeds | {e.source for e in edges} | {e.target for e in edges}
        nodes = [
            GraphNode(id=i, label=ENTITIES[i].name, type=ENTITIES[i].type, highlighted=i in seeds)
            for i in sorted(ids)
        ][:limit]
        return Subgraph(nodes=nodes, edges=edges)

    def cypher(self, query: str, params: dict | None = None) -> CypherTable:
        query = self._check(query)
        if _WRITE.search(query):
            raise UnsafeCypherError("write clauses are not allowed (found a write keyword)")
        if self.store_down:
            raise StoreUnavailable("FalkorDB is not running")
        self.calls.append(("cypher", (query, params)))
        return CypherTable(
            query=query,
            columns=["name", "type"],
            rows=[[e.name, e.type] for e in ENTITIES.values()],
        )

    def browser_queries(self) -> list[BrowserQuery]:
        return [
            BrowserQuery("models", "All models", "MATCH (m:Model) RETURN m.name AS name"),
            BrowserQuery(
                "by name", "One entity", "MATCH (e {name: $name}) RETURN e", {"name": "BERT"}
            ),
        ]

    def ingest(
        self, paths: Sequence[Path], progress: Callable[[float, str], None] | None = None
    ) -> Manifest:
        for i, p in enumerate(paths):
            if progress:
                progress((i + 1) / len(paths), f"ingesting {Path(p).name}")
            self.ingested.append(Path(p))
        return Manifest(kg_version="0", created_at="now", counts={"documents": 2 + len(paths)})

    def close(self) -> None:
        pass
