"""Metrics: trec_eval nDCG/recall via pytrec_eval, HippoRAG-style passage recall, latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def ranked_run(ranked: Sequence[str]) -> dict[str, float]:
    """Strictly decreasing scores for a ranked list, so trec_eval's tie-breaking never applies."""
    n = len(ranked)
    return {doc: float(n - i) for i, doc in enumerate(ranked)}


def trec_metrics(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    measures: Sequence[str] = ("ndcg_cut.10", "recall.100"),
) -> dict[str, float]:
    """Mean of each measure over all qrels queries (a query missing from the run scores 0)."""
    import pytrec_eval

    full_run = {q: dict(run.get(q, {})) for q in qrels}
    # pytrec_eval skips queries without any retrieved doc; count them as 0 like `trec_eval -c`
    evaluator = pytrec_eval.RelevanceEvaluator(
        {q: dict(v) for q, v in qrels.items()}, set(measures)
    )
    per_query = evaluator.evaluate({q: r for q, r in full_run.items() if r})
    out: dict[str, float] = {}
    for m in measures:
        key = m.replace(".", "_")
        vals = [per_query.get(q, {}).get(key, 0.0) for q in qrels]
        out[m] = float(np.mean(vals)) if vals else 0.0
    return out


def recall_at_k(gold: set[int], ranked: Sequence[int], k: int) -> float:
    return len(gold & set(ranked[:k])) / len(gold) if gold else 0.0


def all_gold_at_k(gold: set[int], ranked: Sequence[int], k: int) -> float:
    return float(bool(gold) and gold <= set(ranked[:k]))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"latency_ms_p50": 0.0, "latency_ms_p95": 0.0}
    ms = np.asarray(seconds) * 1000
    return {
        "latency_ms_p50": float(np.percentile(ms, 50)),
        "latency_ms_p95": float(np.percentile(ms, 95)),
    }
