"""2WikiMultihopQA (HippoRAG's sample): passage recall@2/@5 and all-gold@5 per question."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from kg.retrieval import fusion as fusion_mod
from kg.retrieval.retriever import FusionConfig
from pipelines.evaluation.metrics import all_gold_at_k, latency_summary, recall_at_k


def load_2wiki(folder: Path) -> tuple[list[dict], list[dict]]:
    corpus = json.loads((folder / "corpus.json").read_text(encoding="utf-8"))
    questions = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
    return corpus, questions


def evaluate_2wiki(
    folder: Path,
    mode: str = "hybrid",
    limit: int | None = None,
    *,
    cache_dir: Path | None = None,
    fusion: FusionConfig | None = None,
) -> dict:
    """Passages are title + text; titles double as entities for the graph (they name the page)."""
    from kg.retrieval.corpus import corpus_retriever
    from pipelines.evaluation.corpus_entities import corpus_entities

    folder = Path(folder)
    corpus, questions = load_2wiki(folder)
    if limit is not None:
        questions = questions[:limit]
    passages = [(f"p{i}", p["title"], p["text"]) for i, p in enumerate(corpus)]
    r = corpus_retriever(
        f"2wiki-{len(passages)}",
        passages,
        mode,
        cache_dir=cache_dir,
        fusion=fusion,
        titles_as_entities=True,
        find_entities=corpus_entities,
    )
    rec2, rec5, all5, took = [], [], [], []
    for q in questions:
        gold = {int(i) for i in q["gold_corpus_idx"]}
        t = time.perf_counter()
        ranked = [int(i) for i in fusion_mod.top_k(r.scores(q["question"], mode)["score"], 5)]
        took.append(time.perf_counter() - t)
        rec2.append(recall_at_k(gold, ranked, 2))
        rec5.append(recall_at_k(gold, ranked, 5))
        all5.append(all_gold_at_k(gold, ranked, 5))
    return {
        "dataset": "2wiki",
        "mode": mode,
        "queries": len(questions),
        "docs": len(passages),
        "recall@2": float(np.mean(rec2)) if rec2 else 0.0,
        "recall@5": float(np.mean(rec5)) if rec5 else 0.0,
        "all_gold@5": float(np.mean(all5)) if all5 else 0.0,
        **latency_summary(took),
        "build_s": {k: round(v, 3) for k, v in r.timings.items()},
    }
