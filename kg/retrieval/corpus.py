"""Retrievers over whole benchmark corpora: chunks from (title, text) pairs, cached indexes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kg.models import Chunk, Entity
from kg.retrieval.embed_cache import default_embedding_dir
from kg.retrieval.retriever import FusionConfig, Retriever

FindEntities = Callable[[Sequence[Chunk], Path, Mapping[str, str]], Sequence[Entity]]


def passage_chunks(passages: Sequence[tuple[str, str, str]]) -> list[Chunk]:
    """One chunk per ``(doc_id, title, text)``; the title opens the text (BEIR: title + text)."""
    out = []
    for i, (doc_id, title, text) in enumerate(passages):
        body = f"{title}\n{text}" if title else text
        out.append(
            Chunk(id=f"c_{doc_id}", doc_id=doc_id, index=i, start=0, end=len(body), text=body)
        )
    return out


def eval_cache_dir(name: str, cache_dir: Path | None = None) -> Path:
    from kg.config import default_cache_dir

    return (cache_dir or default_cache_dir()) / "eval" / name


def corpus_retriever(
    name: str,
    passages: Sequence[tuple[str, str, str]],
    mode: str,
    *,
    cache_dir: Path | None = None,
    fusion: FusionConfig | None = None,
    titles_as_entities: bool = False,
    find_entities: FindEntities | None = None,
) -> Retriever:
    """A retriever with every index ``mode`` needs already built (and timed in ``.timings``).

    The graph view needs entities: ``find_entities(chunks, cache_folder, titles)`` gives them
    (the evaluation passes kg extract's spaCy stage; kg's core cannot import the pipelines)."""
    folder = eval_cache_dir(name, cache_dir)
    chunks = passage_chunks(passages)
    entities = []
    timings: dict[str, float] = {}
    cfg = fusion or FusionConfig()
    needs_graph = mode == "graph" or (mode == "hybrid" and cfg.weights.get("graph", 0) > 0)
    if needs_graph:
        if find_entities is None:
            raise ValueError("the graph view needs find_entities")  # a caller's bug
        t = time.perf_counter()
        titles = (
            {c.id: p[1] for c, p in zip(chunks, passages, strict=True)}
            if titles_as_entities
            else {}
        )
        entities = list(find_entities(chunks, folder, titles))
        timings["entities"] = time.perf_counter() - t
    index_dir = folder / f"index-{len(chunks)}"
    r = Retriever.from_chunks(
        chunks,
        entities,
        index_dir=index_dir,
        fusion_config=cfg,
        embedding_dir=default_embedding_dir(cache_dir),
    )
    _ = r.bm25
    for view in r.views(mode):
        r.dense(view)
    if needs_graph:
        _ = r.graph
    r.timings.update(timings)
    return r
