"""``kg extract --concurrency 2`` vs 1 on the smallest seed file, against one 2-slot server.

The server is kg's offline llama.cpp server started with 2 slots; each run extracts into a fresh
workspace (so every LLM-tier call is real) with KG_LLM_BASE_URL pointing at that server. The
concurrency-2 run goes first, so the concurrency-1 run finds the prompt prefix already cached:
the speed-up reported is, if anything, an underestimate.

    nice -n 10 .venv/bin/python bench/llm_slots_extract.py --threads 1

Adds its figures to bench/results/llm_slots.json and .md (via bench/llm_slots.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from llm_slots import load_results, save_results, start  # noqa: E402

from kg.config import Settings  # noqa: E402
from kg.llm import runtime  # noqa: E402
from kg.workspace import Workspace  # noqa: E402
from pipelines.extraction.pipeline import run_extract  # noqa: E402

SEEDS = Path("/work/shared/corpus/seeds")


def smallest_seed() -> Path:
    return min((p for p in SEEDS.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)


def extract(seed: Path, base_url: str, concurrency: int, root: Path) -> dict[str, Any]:
    ws = Workspace(root / f"ws-c{concurrency}")
    settings = Settings.from_env(
        workspace=ws.root, llm_base_url=base_url, llm_concurrency=concurrency,
        llm_mode="on", llm_timeout=1800.0,
    )  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    manifest = run_extract([seed], ws, settings, progress=False)
    wall = time.perf_counter() - started
    usage, cov = manifest.llm_usage, manifest.llm_coverage
    row = {
        "concurrency": concurrency,
        "wall_s": round(wall, 1),
        "calls": usage.calls,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "failures": usage.failures,
        "coverage": f"{cov.done}/{cov.needed} {cov.state}",
        "load": round((load + os.getloadavg()[0]) / 2, 1),
    }
    print(row, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: one per core)")
    ap.add_argument("--label", default="smallest seed", help="this run's name in the results")
    args = ap.parse_args()
    seed = smallest_seed()
    with tempfile.TemporaryDirectory(prefix="kg-llm-slots-extract-") as tmp:
        server = start(2, Path(tmp), args.threads)
        try:
            rows = [extract(seed, server.base_url, c, Path(tmp)) for c in (2, 1)]
        finally:
            runtime.stop_own_servers()
    by = {r["concurrency"]: r for r in rows}
    speedup = by[1]["wall_s"] / by[2]["wall_s"]
    note = (
        f"{seed.name} ({seed.stat().st_size} bytes), one 2-slot server, "
        f"{args.threads or runtime._threads()} llama.cpp thread(s): concurrency 2 took "
        f"{by[2]['wall_s']} s, concurrency 1 {by[1]['wall_s']} s, **speed-up {speedup:.2f}x** "
        "(whole kg extract, trained tier included; concurrency 1 ran second, on a warm cache)"
    )
    results = load_results()
    results.setdefault("extract", {})[args.label] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": seed.name,
        "threads": args.threads or runtime._threads(),
        "runs": rows,
        "speedup": round(speedup, 3),
        "note": note,
    }
    save_results(results)
    print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
