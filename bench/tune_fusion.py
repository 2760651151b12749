"""Coarse grid over hybrid's min-max fusion weights, on SciFact TRAIN and 2Wiki.

Usage: .venv/bin/python bench/tune_fusion.py [--step 0.1] [--limit N]
Every view is scored once per query; each weight triple (BM25, MiniLM, e5; summing to 1, on a
coarse grid so the choice cannot fit noise) is then scored from the saved top-100 lists. The
graph keeps its weight (16 x trust, tuned on 2Wiki earlier). Prints the best triples; writes
bench/results/tune_fusion.json. SciFact's held-out split is never read here.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "eval"

import numpy as np  # noqa: E402

from kg.retrieval import fusion  # noqa: E402
from kg.retrieval.corpus import corpus_retriever  # noqa: E402
from kg.retrieval.retriever import FusionConfig  # noqa: E402
from pipelines.evaluation.beir import load_beir  # noqa: E402
from pipelines.evaluation.corpus_entities import corpus_entities  # noqa: E402
from pipelines.evaluation.metrics import all_gold_at_k, ranked_run, trec_metrics  # noqa: E402
from pipelines.evaluation.twowiki import load_2wiki  # noqa: E402

VIEWS = ("bm25", "vector", "e5")


def _lists(r, text: str, depth: int) -> tuple[dict[str, dict[int, float]], float]:
    """Per view: {chunk: min-max score} over its top ``depth``; plus the graph's fused weight."""
    cfg = r.fusion
    s = r.scores(text, "hybrid")
    out = {}
    for v in VIEWS:
        top = fusion.top_k(s[v], depth)
        mm = fusion.minmax(s[v], top)
        out[v] = {int(i): float(mm[i]) for i in top}
    g = r.graph
    trust = g.trust(g.seed_weights(g.link(text)))
    gp = np.power(s["graph"], cfg.graph_power)
    top = fusion.top_k(gp, depth)
    mm = fusion.minmax(gp, top)
    out["graph"] = {int(i): float(mm[i]) for i in top}
    return out, cfg.weights["graph"] * trust


def _rank(lists: dict[str, dict[int, float]], w: dict[str, float], gw: float, k: int) -> list[int]:
    total: dict[int, float] = {}
    for v, weight in [*w.items(), ("graph", gw)]:
        if weight <= 0:
            continue
        for i, x in lists[v].items():
            total[i] = total.get(i, 0.0) + weight * x
    return sorted(total, key=lambda i: (-total[i], i))[:k]


def grid(step: float) -> list[dict[str, float]]:
    n = round(1 / step)
    out = []
    for a, b in itertools.product(range(n + 1), repeat=2):
        if a + b <= n:
            out.append({"bm25": a * step, "vector": b * step, "e5": (n - a - b) * step})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-2wiki", action="store_true", help="SciFact only")
    args = ap.parse_args()
    cfg = FusionConfig(weights={"bm25": 1, "vector": 1, "e5": 1, "graph": 16.0})
    corpus, queries, qrels = load_beir(SHARED / "scifact", "train")
    if args.limit:
        queries = dict(list(queries.items())[: args.limit])
        qrels = {q: qrels[q] for q in queries}
    passages = [(d, t, x) for d, (t, x) in corpus.items()]
    r = corpus_retriever(f"beir-scifact-{len(passages)}", passages, "hybrid", fusion=cfg,
                         find_entities=corpus_entities)
    sf = {q: _lists(r, t, 100) for q, t in queries.items()}
    tw = []
    if not args.no_2wiki:
        wc, questions = load_2wiki(SHARED / "2wiki")
        wp = [(f"p{i}", p["title"], p["text"]) for i, p in enumerate(wc)]
        r2 = corpus_retriever(f"2wiki-{len(wp)}", wp, "hybrid", fusion=cfg,
                              titles_as_entities=True, find_entities=corpus_entities)
        tw = [(set(q["gold_corpus_idx"]), _lists(r2, q["question"], 100)) for q in questions]
    rows = []
    for w in grid(args.step):
        run = {
            q: ranked_run([r.chunks[i].doc_id for i in _rank(lst, w, gw, 100)])
            for q, (lst, gw) in sf.items()
        }
        ndcg = trec_metrics(qrels, run)["ndcg_cut.10"]
        all5 = np.mean([all_gold_at_k(g, _rank(lst, w, gw, 5), 5) for g, (lst, gw) in tw] or [0])
        rows.append(
            {
                **{k: round(v, 3) for k, v in w.items()},
                "scifact_ndcg@10": ndcg,
                "2wiki_all_gold@5": float(all5),
            }
        )
    rows.sort(key=lambda x: -x["scifact_ndcg@10"])
    for row in rows[:15]:
        print(json.dumps(row))
    out = ROOT / "bench" / "results" / "tune_fusion.json"
    out.write_text(json.dumps({"step": args.step, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
