"""The 290k-row full load with chunk vectors (this tree) against today's load without them (a
checkout of the baseline, e.g. ``git worktree add /tmp/base origin/main``), interleaved in one
session so both see the same neighbours: base, this, base, this ...

    .venv/bin/python bench/load_vectors.py --base /tmp/base [--rounds 2]

Each round runs each tree in a fresh process on the same synthetic workspace (tests/
synthetic_graph.py, seed 1: 200 documents, 20,000 chunks, 50,000 entities, 100,000 relations;
seeded 384-dim vectors for this tree, bench/load.py's ``write_vectors``). Writes
bench/results/load_vectors.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def one_load(tree: Path, vectors: bool) -> dict:
    """In this process (``--child``): one full load of the synthetic workspace with ``tree``'s
    code."""
    sys.path.insert(0, str(tree))
    sys.path.insert(0, str(tree / "bench"))
    os.chdir(tree)
    import load as bench  # bench/load.py of that tree

    from kg.config import Settings
    from kg.store import open_store
    from kg.workspace import Workspace
    from pipelines.load import load_workspace
    from tests.synthetic_graph import synthetic, write_graph

    ws = Workspace(Path(tempfile.mkdtemp(prefix="kgvec")) / "ws")
    g = synthetic(n_docs=200, n_chunks=20_000, n_entities=50_000, n_relations=100_000,
                  per_entity=2, seed=1)  # fmt: skip
    write_graph(ws, g, kg_version="bench")
    if vectors:
        bench.write_vectors(ws, g)
    with open_store(Settings(), ws) as store:
        pid = store.server.info.pid
        t, c, s = time.perf_counter(), bench.cpu_s(os.getpid()), bench.cpu_s(pid)
        rep = load_workspace(ws, store, rebuild=True, progress=False)
        return {
            "wall_s": round(time.perf_counter() - t, 2),
            "kg_cpu_s": round(bench.cpu_s(os.getpid()) - c, 2),
            "server_cpu_s": round(bench.cpu_s(pid) - s, 2),
            "rows": rep.rows_total,
            "vectors": getattr(rep, "vectors", {}) or {},
            "load_avg": round(os.getloadavg()[0], 2),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="checkout of the baseline")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_load(Path(args.child[0]), args.child[1] == "vectors")))
        return
    runs: dict[str, list[dict]] = {"base": [], "vectors": []}
    for _ in range(args.rounds):
        for name, tree in (("base", args.base.resolve()), ("vectors", ROOT)):
            cmd = [sys.executable, __file__, "--base", str(args.base), "--child", str(tree),
                   "novectors" if name == "base" else "vectors"]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)

    def mean(name: str, key: str) -> float:
        return round(statistics.mean(r[key] for r in runs[name]), 2)

    def cpu(name: str) -> float:
        return round(mean(name, "kg_cpu_s") + mean(name, "server_cpu_s"), 2)

    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "runs": runs,
        "wall_ratio": round(mean("vectors", "wall_s") / mean("base", "wall_s"), 2),
        "cpu_ratio": round(cpu("vectors") / cpu("base"), 2),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load_vectors.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# kg load with chunk vectors vs today's load (290k rows)",
        "",
        f"Full load (`--rebuild`) of the 290k-row synthetic workspace, embedded FalkorDB, "
        f"{args.rounds} interleaved rounds, {out['date']}. `vectors`: this tree, 20,000 chunk "
        "vectors (384 float32) in the chunk rows; `base`: the baseline checkout, no vectors.",
        "",
        "| run | wall s | kg CPU s | server CPU s | vectors | load avg |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name in ("base", "vectors"):
        for r in runs[name]:
            lines.append(f"| {name} | {r['wall_s']} | {r['kg_cpu_s']} | {r['server_cpu_s']} | "
                         f"{r['vectors']} | {r['load_avg']} |")  # fmt: skip
    lines += ["", f"Mean wall ratio {out['wall_ratio']}x, CPU ratio (kg + server) "
              f"{out['cpu_ratio']}x; target 1.3x."]  # fmt: skip
    (RESULTS / "load_vectors.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
