"""Store-backed retrieval against the in-memory caches on the seed corpus's QA set.

Extracts the seed corpus (``kg extract --spacy-only``; or ``--workspace DIR --reuse``), loads it
into the embedded FalkorDB, then asks every question of ``bench/seeds_qa.jsonl`` in each mode
twice: through the store (vector index, full-text linking, the walk's neighbourhoods by Cypher)
and through the in-memory indexes built from the workspace files. Reports how many questions
get the same ranked chunk ids (k=10) and the per-query latency of both paths.

    .venv/bin/python bench/store_parity.py [--workspace DIR --reuse]

Writes bench/results/store_parity.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
QA = ROOT / "bench" / "seeds_qa.jsonl"
RESULTS = ROOT / "bench" / "results"
# hybrid first walks a cold neighbourhood cache (columns fetched from the store), then again warm
MODES = ("hybrid", "hybrid", "vector", "graph", "bm25")
K = 10


def extract(workspace: Path, seeds: Path) -> None:
    env = {**os.environ, "KG_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "extract", str(seeds), "--spacy-only"],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"kg extract failed: {proc.stderr.strip()[-2000:]}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="Workspace folder (default: a temp one).")
    parser.add_argument("--reuse", action="store_true", help="Skip extraction if it exists.")
    parser.add_argument("--seeds", type=Path, default=SEEDS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from kg.config import Settings
    from kg.retrieval import Retriever
    from kg.retrieval.embed_workspace import read_vectors, write_embeddings
    from kg.store import open_store
    from kg.workspace import Workspace
    from pipelines.load import load_workspace

    root = args.workspace or Path(tempfile.mkdtemp(prefix="kg-parity-")) / ".kg"
    ws = Workspace(root)
    if not (args.reuse and ws.exists()):
        extract(root, args.seeds)
    if read_vectors(ws.root, "chunks") is None:  # a workspace from before `kg extract` embedded
        write_embeddings(ws, ws.read("chunks"), ws.read("entities"))
    questions = [json.loads(line)["question"] for line in QA.read_text().splitlines() if line]
    with open_store(Settings(workspace=root), ws) as store:
        t = time.perf_counter()
        report = load_workspace(ws, store, progress=False)
        load_s = time.perf_counter() - t
        from_store = Retriever.open(ws, store=store).build()
        cache = Retriever.open(ws, backend="memory").build()
        rows, mismatches = [], []
        for n, mode in enumerate(MODES):
            label = mode + (" (cold)" if n == 0 else " (warm)" if n == 1 else "")
            same, times = 0, {"store": [], "memory": []}
            for q in questions:
                ranked = {}
                for name, r in (("store", from_store), ("memory", cache)):
                    t = time.perf_counter()
                    ranked[name] = [h.chunk_id for h in r.search(q, mode=mode, k=K)]
                    times[name].append(time.perf_counter() - t)
                if ranked["store"] == ranked["memory"]:
                    same += 1
                else:
                    mismatches.append({"mode": mode, "question": q, **ranked})
            rows.append({
                "mode": label, "questions": len(questions), "same": same,
                "store_p50_ms": pct(times["store"], 0.5), "store_p95_ms": pct(times["store"], 0.95),
                "memory_p50_ms": pct(times["memory"], 0.5),
                "memory_p95_ms": pct(times["memory"], 0.95),
            })  # fmt: skip
            print(rows[-1], flush=True)
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "chunks": len(cache.chunks), "entities": len(cache._entities),
        "load": {"mode": report.mode, "seconds": round(load_s, 2), "vectors": report.vectors},
        "rows": rows, "mismatches": mismatches,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "store_parity.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Store-backed retrieval vs the in-memory caches (seed corpus)",
        "",
        f"{out['chunks']} chunks, {out['entities']} entities (`kg extract --spacy-only` of the "
        f"seed corpus), loaded into the embedded FalkorDB ({report.mode} load, "
        f"{out['load']['seconds']} s, vectors {report.vectors}). Every question of "
        f"`bench/seeds_qa.jsonl`, k={K}, one thread. {out['date']}; load average "
        f"{out['load_average']} (2 shared cores).",
        "",
        "| mode | questions | same ranked ids | store p50 ms | store p95 ms | memory p50 ms "
        "| memory p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['questions']} | {r['same']} | {r['store_p50_ms']} | "
            f"{r['store_p95_ms']} | {r['memory_p50_ms']} | {r['memory_p95_ms']} |"
        )
    lines += ["", f"Mismatches: {len(mismatches)}."]
    (args.out / "store_parity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
