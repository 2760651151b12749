"""Retrieval benchmark: every mode on SciFact train and 2Wiki, with plain rank-bm25 as baseline.

Usage: .venv/bin/python bench/retrieval.py [--limit N] [--cache-dir DIR] [--modes bm25,hybrid]
Writes bench/results/retrieval.md and retrieval.json. A fresh --cache-dir times index builds
from scratch; the default cache makes re-runs fast. Queries run on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("KG_SHARED", ROOT.parent / "shared")) / "eval"
RESULTS = ROOT / "bench" / "results"
MODES = ("bm25", "vector", "e5", "graph-old", "graph", "hybrid-old", "hybrid")

import numpy as np  # noqa: E402

from kg.retrieval.retriever import OLD_WEIGHTS, FusionConfig  # noqa: E402
from pipelines.evaluation.beir import evaluate_beir, load_beir  # noqa: E402
from pipelines.evaluation.metrics import (  # noqa: E402
    all_gold_at_k,
    latency_summary,
    ranked_run,
    recall_at_k,
    trec_metrics,
)
from pipelines.evaluation.twowiki import evaluate_2wiki, load_2wiki  # noqa: E402

_PLAIN = re.compile(r"\w+")


def _plain_tokens(text: str) -> list[str]:
    return _PLAIN.findall(text.lower())


def _plain_bm25(docs: list[str]):
    from rank_bm25 import BM25Okapi

    t = time.perf_counter()
    bm25 = BM25Okapi([_plain_tokens(d) for d in docs], k1=0.9, b=0.4)
    return bm25, time.perf_counter() - t


def baseline_scifact(limit: int | None) -> dict:
    corpus, queries, qrels = load_beir(SHARED / "scifact", "train")
    if limit:
        queries = dict(list(queries.items())[:limit])
        qrels = {q: qrels[q] for q in queries}
    ids = list(corpus)
    bm25, build = _plain_bm25([f"{t}\n{x}" for t, x in corpus.values()])
    run, took = {}, []
    for qid, text in queries.items():
        t = time.perf_counter()
        s = bm25.get_scores(_plain_tokens(text))
        top = np.argsort(-s, kind="stable")[:100]
        took.append(time.perf_counter() - t)
        run[qid] = ranked_run([ids[i] for i in top])
    m = trec_metrics(qrels, run)
    return {
        "mode": "rank-bm25 (plain)",
        "queries": len(queries),
        "ndcg@10": m["ndcg_cut.10"],
        "recall@100": m["recall.100"],
        **latency_summary(took),
        "build_s": {"bm25_build": round(build, 3)},
    }


def baseline_2wiki(limit: int | None) -> dict:
    corpus, questions = load_2wiki(SHARED / "2wiki")
    questions = questions[:limit] if limit else questions
    bm25, build = _plain_bm25([f"{p['title']}\n{p['text']}" for p in corpus])
    r2, r5, a5, took = [], [], [], []
    for q in questions:
        t = time.perf_counter()
        top = [int(i) for i in np.argsort(-bm25.get_scores(_plain_tokens(q["question"])))[:5]]
        took.append(time.perf_counter() - t)
        gold = set(q["gold_corpus_idx"])
        r2.append(recall_at_k(gold, top, 2))
        r5.append(recall_at_k(gold, top, 5))
        a5.append(all_gold_at_k(gold, top, 5))
    return {
        "mode": "rank-bm25 (plain)",
        "queries": len(questions),
        "recall@2": float(np.mean(r2)),
        "recall@5": float(np.mean(r5)),
        "all_gold@5": float(np.mean(a5)),
        **latency_summary(took),
        "build_s": {"bm25_build": round(build, 3)},
    }


def _mode(name: str) -> tuple[str, FusionConfig | None]:
    """Bench rows: the default hybrid, the one before e5 (baseline), RRF over the same views."""
    if name == "hybrid-rrf":
        return "hybrid", FusionConfig(method="rrf")
    if name == "hybrid-old":  # exactly the previous default: no e5 view, no bridge lift
        return "hybrid", FusionConfig(weights=dict(OLD_WEIGHTS), bridges=False)
    if name == "graph-old":
        return "graph", FusionConfig(bridges=False)
    return name, None


def concurrent_latency(name: str, clients: int, n_queries: int = 120) -> dict:
    """``Retriever.search`` from ``clients`` threads at once over SciFact claims (the serving
    path without HTTP: ONNX, the e5 engine and BLAS release the GIL, one thread each)."""
    from concurrent.futures import ThreadPoolExecutor

    from kg.retrieval.corpus import corpus_retriever
    from pipelines.evaluation.corpus_entities import corpus_entities

    mode, cfg = _mode(name)
    corpus, queries, _ = load_beir(SHARED / "scifact", "train")
    passages = [(d, t, x) for d, (t, x) in corpus.items()]
    r = corpus_retriever(f"beir-scifact-{len(passages)}", passages, mode, fusion=cfg,
                         find_entities=corpus_entities)
    texts = list(queries.values())[:n_queries]
    r.search(texts[0], mode, k=10)

    def one(text: str) -> float:
        t = time.perf_counter()
        r.search(text, mode, k=10)
        return time.perf_counter() - t

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        took = list(pool.map(one, texts))
    wall = time.perf_counter() - t0
    return {
        "mode": name,
        "clients": clients,
        "queries": len(texts),
        "qps": round(len(texts) / wall, 1),
        **latency_summary(took),
        "load": _load(),
    }


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="first N queries of each set")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--note", default="", help="a line for the report (e.g. from-scratch builds)")
    ap.add_argument("--clients", default="1,4", help="in-process concurrency levels ('' = skip)")
    ap.add_argument("--no-baseline", action="store_true", help="skip plain rank-bm25")
    ap.add_argument("--name", default="retrieval", help="results file stem (bench/results/NAME.md)")
    ap.add_argument(
        "--merge",
        type=Path,
        default=None,
        help="rows of an earlier run's JSON to keep (split runs)",
    )
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    started = _load()
    out: dict = {"scifact-train": [], "2wiki": []}
    kept: list[dict] = []
    if args.merge:
        old = json.loads(args.merge.read_text(encoding="utf-8"))
        out = {k: [r for r in old[k] if r["mode"] not in modes] for k in ("scifact-train", "2wiki")}
        started = old.get("load_average", {}).get("start", started)
        kept = [r for r in old.get("concurrency", []) if r["mode"] not in modes]
    if not args.no_baseline:
        out["scifact-train"].insert(0, baseline_scifact(args.limit))
        out["2wiki"].insert(0, baseline_2wiki(args.limit))
    for name in modes:
        mode, cfg = _mode(name)
        r = evaluate_beir(
            SHARED / "scifact", "train", mode, args.limit, cache_dir=args.cache_dir, fusion=cfg
        )
        out["scifact-train"].append({**r, "mode": name, "load": _load()})
        print(json.dumps(out["scifact-train"][-1]), flush=True)
    for name in modes:
        mode, cfg = _mode(name)
        r = evaluate_2wiki(SHARED / "2wiki", mode, args.limit, cache_dir=args.cache_dir, fusion=cfg)
        out["2wiki"].append({**r, "mode": name, "load": _load()})
        print(json.dumps(out["2wiki"][-1]), flush=True)
    out["concurrency"] = kept + [
        concurrent_latency(name, int(c))
        for name in ("hybrid-old", "hybrid")
        if name in modes
        for c in args.clients.split(",")
        if c
    ]
    out["note"] = args.note
    out["load_average"] = {"start": started, "end": _load()}
    out["weights"] = {"hybrid": FusionConfig().weights, "hybrid-old": OLD_WEIGHTS}
    write(out, args.name)


def _builds(r: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in r["build_s"].items() if not k.endswith("embedded"))


def write(out: dict, name: str = "retrieval") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Retrieval benchmark",
        "",
        "One thread for queries (`OMP_NUM_THREADS=1`, ONNX intra/inter-op 1, e5's OpenMP pool "
        "pinned to 1). Build times in seconds (a cached index shows its load time). "
        "`load` is the 1-minute load average when the row finished (2 shared cores); "
        f"the run started at {out.get('load_average', {}).get('start', '?')} and ended at "
        f"{out.get('load_average', {}).get('end', '?')}.",
        "",
        f"Weights (min-max fusion): hybrid {out.get('weights', {}).get('hybrid')}; "
        f"hybrid-old (the previous default, the baseline) "
        f"{out.get('weights', {}).get('hybrid-old')}. "
        "Graph weight is scaled by the link trust (0 unless a linked entity titles a chunk).",
        "",
        *([out["note"], ""] if out.get("note") else []),
        "## SciFact train (809 queries, 5,183 abstracts, title + text)",
        "",
        "| mode | nDCG@10 | recall@100 | p50 ms | p95 ms | build s | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in out["scifact-train"]:
        lines.append(
            f"| {r['mode']} | {r['ndcg@10']:.3f} | {r['recall@100']:.3f} | "
            f"{r['latency_ms_p50']:.1f} | {r['latency_ms_p95']:.1f} | {_builds(r)} | "
            f"{r.get('load', '')} |"
        )
    lines += [
        "",
        "## 2Wiki (101 questions, 6,119 passages)",
        "",
        "| mode | recall@2 | recall@5 | all-gold@5 | p50 ms | p95 ms | build s | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in out["2wiki"]:
        lines.append(
            f"| {r['mode']} | {r['recall@2']:.3f} | {r['recall@5']:.3f} | {r['all_gold@5']:.3f} | "
            f"{r['latency_ms_p50']:.1f} | {r['latency_ms_p95']:.1f} | {_builds(r)} | "
            f"{r.get('load', '')} |"
        )
    if out.get("concurrency"):
        lines += [
            "",
            "## Query latency under concurrency (SciFact, in-process `Retriever.search`, k=10)",
            "",
            "Threads call the retriever at once, as the HTTP workers do (no HTTP, no JSON).",
            "",
            "| mode | clients | queries | q/s | p50 ms | p95 ms | load |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in out["concurrency"]:
            lines.append(
                f"| {r['mode']} | {r['clients']} | {r['queries']} | {r['qps']} | "
                f"{r['latency_ms_p50']:.1f} | {r['latency_ms_p95']:.1f} | {r['load']} |"
            )
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
