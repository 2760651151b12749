"""The LLM tier, measured honestly: trained tier alone vs trained + LLM, side by side.

Seed corpus: ``kg extract --llm off`` and ``kg extract --llm on`` (real CLI, real offline model)
into two workspaces kept under ``--workdir`` (the LLM one is resumable: a budgeted or interrupted
run continues on the next invocation), each scored by ``kg eval graph bench/seeds_graph.jsonl``;
the LLM's calls, tokens and seconds come from the answers checkpointed in the workspace cache.
SciERC dev: ``kg eval scierc --tier trained`` vs ``--tier trained+llm`` on the same documents.
Writes bench/results/llm_tier.md and .json with the load average.

    nice -n 5 .venv/bin/python bench/llm_tier.py --workdir /tmp/kg-llm-bench [--llm-budget 20m]
        [--scierc-limit 20] [--only seeds|scierc] [--score-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.extraction.verify_prompt import parse_verdicts

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
SCIERC_DEV = ROOT.parent / "shared" / "eval" / "scierc" / "dev.jsonl"
GOLD = ROOT / "bench" / "seeds_graph.jsonl"
RESULTS = ROOT / "bench" / "results"
GRAPH_METRICS = ("fact_recall", "typed_fact_recall", "entity_recall", "typed_entity_recall",
                 "related_to_share", "relations")  # fmt: skip


def kg(*args: str, workspace: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    if workspace is not None:
        env["KG_WORKSPACE"] = str(workspace)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)  # fmt: skip


def llm_answers(workspace: Path) -> dict[str, Any]:
    """Calls, tokens and seconds of the LLM tier's checkpointed answers (verify calls only)."""
    rows = []
    from kg.llm_cache import LLMCache  # one SQLite store per workspace

    for _key, entry in LLMCache.for_workspace(workspace).items():
        parsed = entry.get("parsed")
        # answers of the current prompt only (earlier versions' answers stay in the cache)
        if isinstance(parsed, dict) and "types" not in parsed and parse_verdicts(parsed):
            rows.append(entry)
    n = len(rows)
    out = sum(int(r["usage"].get("completion_tokens") or 0) for r in rows)
    inp = sum(int(r["usage"].get("prompt_tokens") or 0) for r in rows)
    secs = sum(float(r.get("seconds") or 0.0) for r in rows)
    reused = sum(int(r.get("cached_prompt_tokens") or 0) for r in rows)
    return {"verify_calls": n, "output_tokens_per_chunk": round(out / n, 1) if n else 0.0,
            "prompt_tokens_per_chunk": round(inp / n, 1) if n else 0.0,
            "prompt_cache_share": round(reused / inp, 3) if inp else 0.0,
            "llm_seconds": round(secs, 1), "seconds_per_call": round(secs / n, 1) if n else 0.0,
            "new_relations": sum(len(r["parsed"].get("new") or []) for r in rows),
            "verdicts": sum(len(r["parsed"].get("verdicts") or []) for r in rows),
            "false_verdicts": sum(v is False for r in rows for v in r["parsed"]["verdicts"])}


def seeds(workdir: Path, budget: str | None, score_only: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, args in (("trained", ["--llm", "off"]), ("trained+llm", ["--llm", "on"])):
        ws = workdir / label.replace("+", "_")
        if label == "trained+llm" and budget:
            args = ["--llm-budget", budget]
        load0, t0 = os.getloadavg()[0], time.perf_counter()
        if not score_only:
            run = kg("extract", str(SEEDS), *args, workspace=ws)
            if run.returncode != 0:
                raise SystemExit(f"kg extract failed ({label}): {run.stderr[-2000:]}")
        wall = round(time.perf_counter() - t0, 1)
        score = kg("eval", "graph", str(GOLD), "--json", workspace=ws)
        graph = json.loads(score.stdout)
        manifest = json.loads((ws / "manifest.json").read_text())
        row = {k: graph[k] for k in GRAPH_METRICS}
        row.update(wall_s_this_run=wall, load_avg=round(load0, 2),
                   coverage=manifest.get("llm_coverage", {}), chunks=manifest["counts"]["chunks"])
        if label == "trained+llm":
            row.update(llm_answers(ws))
        out[label] = row
    return out


def scierc(limit: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tier in ("trained", "trained+llm"):
        load0 = os.getloadavg()[0]
        run = kg("eval", "scierc", str(SCIERC_DEV), "--tier", tier, "--limit", str(limit), "--json")
        if run.returncode != 0:
            raise SystemExit(f"kg eval scierc failed ({tier}): {run.stderr[-2000:]}")
        res = json.loads(run.stdout)
        out[tier] = {k: res.get(k) for k in ("docs", "entity_f1", "rel_f1", "rel_plus_f1",
                                             "rel_p", "rel_r", "llm_calls", "llm_cached",
                                             "llm_completion_tokens", "seconds")}  # fmt: skip
        out[tier]["load_avg"] = round(load0, 2)
    return out


HISTORY = ROOT / "bench" / "llm_tier_history.md"  # what earlier prompts did, measured by hand


def markdown(result: dict[str, Any]) -> str:
    lines = ["# LLM tier: trained alone vs trained + LLM", "",
             f"Measured {result['date']} on {os.cpu_count()} shared cores; load average at "
             "the start of each run in the rows.", ""]  # fmt: skip
    if "seeds" in result:
        lines += ["## Seed corpus (`kg eval graph bench/seeds_graph.jsonl`)", "",
                  "| tier | fact recall | typed fact recall | relations | LLM chunks done | "
                  "output tok/chunk | prompt tok/chunk | served from prompt cache | s/call | "
                  "LLM s total | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for label, r in result["seeds"].items():
            cov = r.get("coverage") or {}
            lines.append(
                f"| {label} | {r['fact_recall']:.3f} | {r['typed_fact_recall']:.3f} | "
                f"{r['relations']} | {cov.get('done', 0)}/{cov.get('needed', 0)} | "
                f"{r.get('output_tokens_per_chunk', '–')} | {r.get('prompt_tokens_per_chunk', '–')}"
                f" | {r.get('prompt_cache_share', '–')} | {r.get('seconds_per_call', '–')} | "
                f"{r.get('llm_seconds', '–')} | "
                f"{r['load_avg']} |"
            )
    if "scierc" in result:
        lines += ["", "## SciERC dev (`kg eval scierc --tier …`, same documents)", "",
                  "| tier | docs | entity F1 | Rel F1 | Rel P | Rel R | Rel+ F1 | LLM calls | "
                  "output tokens | s | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for tier, r in result["scierc"].items():
            lines.append(
                f"| {tier} | {r['docs']} | {r['entity_f1']} | {r['rel_f1']} | {r['rel_p']} | "
                f"{r['rel_r']} | {r['rel_plus_f1']} | {r['llm_calls']} (+{r['llm_cached']} "
                f"cached) | {r.get('llm_completion_tokens') or 0} | {r['seconds']} | "
                f"{r['load_avg']} |"
            )
    history = HISTORY.read_text(encoding="utf-8") if HISTORY.is_file() else ""
    return "\n".join(lines) + "\n\n" + history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/kg-llm-bench"))
    ap.add_argument("--llm-budget", default=None, help="cap the seed LLM run (resumable)")
    ap.add_argument("--scierc-limit", type=int, default=20)
    ap.add_argument("--only", choices=("seeds", "scierc"), default=None)
    ap.add_argument("--score-only", action="store_true",
                    help="score the workspaces already in --workdir (no kg extract)")
    args = ap.parse_args()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.only in (None, "seeds"):
        result["seeds"] = seeds(args.workdir, args.llm_budget, args.score_only)
    if args.only in (None, "scierc"):
        result["scierc"] = scierc(args.scierc_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "llm_tier" if args.only is None else f"llm_tier_{args.only}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
