"""Graphs for the loader's tests and benchmark, built from kg.models objects as the extract
stage writes them: a small hand-made one with known counts (``DOCS``) and a deterministic
synthetic one of any size (``synthetic``), whose ``version`` > 0 is the same graph with 1 % of
documents, entities and relations changed. One module, so tests and ``bench/load.py`` measure
the same thing.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from kg.models import (
    Chunk,
    Document,
    Entity,
    Evidence,
    Manifest,
    Mention,
    Relation,
    Summary,
)
from kg.ontology import load_ontology
from kg.workspace import Workspace

DOCS = {
    "notes/ml.md": (
        "Alice studies Gradient descent with PyTorch. "
        "Gradient descent minimises a loss. PyTorch computes gradients for Alice."
    ),
    "notes/pca.md": "PCA reduces dimensions. Alice used PCA on MNIST. MNIST is a dataset.",
    "notes/kmeans.md": "K-means clusters points. K-means, like PCA, uses distances.",
}
ENTITY_TYPES = {
    "Alice": "Person",
    "Gradient descent": "Method",
    "PyTorch": "Tool",
    "PCA": "Method",
    "MNIST": "Dataset",
    "K-means": "Method",
}
RELATIONS = [
    ("Alice", "USES", "PyTorch"),
    ("Alice", "USES", "PCA"),
    ("PCA", "APPLIED_TO", "MNIST"),
    ("K-means", "RELATED_TO", "PCA"),
    ("Gradient descent", "RELATED_TO", "PyTorch"),
]
CHUNK = 30


def build_graph(docs: dict[str, str]) -> dict[str, list[Any]]:
    """Model objects for ``docs`` as the extract stage would write them: fixed-size chunks,
    entities with a mention per occurrence, relations evidenced by chunks naming both ends."""
    documents, chunks, summaries = [], [], []
    found: dict[str, list[Mention]] = {}
    for path, text in docs.items():
        doc = Document.from_text(path, text)
        documents.append(doc)
        mine = [
            Chunk.make(doc.id, i, start, text[start : start + CHUNK])
            for i, start in enumerate(range(0, len(text), CHUNK))
        ]
        chunks += mine
        summaries.append(
            Summary(id=f"sum_{doc.id}", doc_id=doc.id, level=1, text=f"about {path}",
                    source_chunk_ids=[c.id for c in mine])
        )  # fmt: skip
        for name in ENTITY_TYPES:
            start = text.find(name)
            while start != -1:
                chunk = next(c for c in mine if c.start <= start < c.end)
                found.setdefault(name, []).append(
                    Mention(chunk_id=chunk.id, doc_id=doc.id, start=start,
                            end=start + len(name), text=name)
                )  # fmt: skip
                start = text.find(name, start + 1)
    entities = {
        name: Entity.make(name, ENTITY_TYPES[name], mentions=mentions, source="test")
        for name, mentions in found.items()
    }
    relations = []
    for head, rel, tail in RELATIONS:
        if head in entities and tail in entities:
            chunk_ids = {m.chunk_id for m in found[head]} | {m.chunk_id for m in found[tail]}
            evidence = [
                Evidence(chunk_id=c.id, doc_id=c.doc_id, start=c.start, end=c.end)
                for c in chunks
                if c.id in chunk_ids
            ]
            relations.append(
                Relation.make(entities[head].id, rel, entities[tail].id, evidence=evidence,
                              confidence=0.8)
            )  # fmt: skip
    return {
        "documents": documents,
        "chunks": chunks,
        "entities": list(entities.values()),
        "relations": relations,
        "summaries": summaries,
    }


def write_workspace(root: Path, docs: dict[str, str] | None = None) -> Workspace:
    ws = Workspace(root)
    write_graph(ws, build_graph(DOCS if docs is None else docs))
    return ws


def expected_counts(docs: dict[str, str]) -> dict[str, int]:
    """Counted from the model objects directly, independently of kg.store.rows."""
    g = build_graph(docs)
    mentions = {(m.chunk_id, e.id, m.start, m.end) for e in g["entities"] for m in e.mentions}
    n_chunks = len(g["chunks"])
    return {
        "Document": len(g["documents"]),
        "Chunk": n_chunks,
        "Entity": len(g["entities"]),
        "Summary": len(g["summaries"]),
        "FROM_DOCUMENT": n_chunks,
        "NEXT_CHUNK": n_chunks - len(g["documents"]),
        "MENTIONS": len(mentions),
        "SUMMARIZES": len(g["summaries"]),
        "relations": len(g["relations"]),
    }



# ---- synthetic graphs of any size ----

WORDS = [
    "gradient",
    "descent",
    "learning",
    "rate",
    "matrix",
    "vector",
    "eigenvalue",
    "tensor",
    "model",
    "layer",
    "attention",
    "token",
    "embedding",
    "loss",
    "optimizer",
    "batch",
    "epoch",
    "dataset",
    "feature",
    "kernel",
    "cluster",
]


def synthetic(
    n_docs: int,
    n_chunks: int,
    n_entities: int,
    n_relations: int,
    seed: int = 1,
    version: int = 0,
    per_entity: int = 2,
) -> dict[str, list[Any]]:
    """A deterministic graph (``per_entity`` mentions per entity); ``version`` > 0 changes 1% of
    documents (their text, hence their ids and chunk ids), entities and relations."""
    rng = random.Random(seed)
    onto = load_ontology("default")
    per_doc = n_chunks // n_docs
    changed_docs = set(range(0, n_docs, 100)) if version else set()
    documents, chunks, summaries = [], [], []
    for d in range(n_docs):
        paras = [
            f"{d}.{i} " + " ".join(rng.choice(WORDS) for _ in range(40)) for i in range(per_doc)
        ]
        if d in changed_docs:
            paras[0] += f" revised v{version}"
        text = "\n".join(paras)
        doc = Document.from_text(f"notes/{d:05d}.md", text)
        documents.append(doc)
        start = 0
        for i, p in enumerate(paras):
            chunks.append(Chunk.make(doc.id, i, start, p))
            start += len(p) + 1
        summaries.append(Summary(id=f"sum_{doc.id}", doc_id=doc.id, level=1, text=f"doc {d}"))
    etypes = onto.entity_names
    entities = []
    for e in range(n_entities):
        mentions = []
        for _ in range(per_entity):
            c = chunks[rng.randrange(len(chunks))]
            mentions.append(
                Mention(chunk_id=c.id, doc_id=c.doc_id, start=c.start, end=c.start + 3,
                        text=c.text[:3])
            )  # fmt: skip
        desc = f"entity {e}" + (f" v{version}" if version and e % 100 == 0 else "")
        entities.append(
            Entity.make(f"thing {e}", etypes[e % len(etypes)], mentions=mentions, description=desc)
        )
    rtypes = onto.relation_names
    relations: dict[str, Relation] = {}
    while len(relations) < n_relations:
        h, t = rng.randrange(n_entities), rng.randrange(n_entities)
        ev = entities[h].mentions[0]
        rel = Relation.make(
            entities[h].id, rng.choice(rtypes), entities[t].id,
            evidence=[Evidence(chunk_id=ev.chunk_id, doc_id=ev.doc_id, start=ev.start, end=ev.end)],
            confidence=0.5,
        )  # fmt: skip
        relations[rel.id] = rel
    rel_list = list(relations.values())
    if version:
        for r in rel_list[::100]:
            r.confidence = 0.9
    return {
        "documents": documents,
        "chunks": chunks,
        "entities": entities,
        "relations": rel_list,
        "summaries": summaries,
    }


def write_graph(ws: Workspace, graph: dict[str, list[Any]], kg_version: str = "test") -> None:
    """Write a graph's files and a manifest, as ``kg extract`` leaves a workspace."""
    for name, items in graph.items():
        ws.write(name, items)
    ws.write_manifest(
        Manifest(kg_version=kg_version, created_at=dt.datetime.now(dt.UTC).isoformat())
    )
