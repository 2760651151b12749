"""Do 2 llama.cpp slots raise the offline LLM's total throughput on this machine?

Starts kg's real offline server twice (1 slot and 2 slots, same model, same threads) and sends
the same K extraction-sized requests to each: a fixed ~300-token system prefix (so llama.cpp's
prompt cache can reuse it), ~300 tokens of seed-corpus text, JSON-schema constrained output of at
most ~60 tokens. The 1-slot server gets 1 client; the 2-slot server gets 2 concurrent clients.
Rounds alternate between the two servers so that load from other processes hits both alike.

    nice -n 10 .venv/bin/python bench/llm_slots.py --requests 8 --rounds 2

Writes bench/results/llm_slots.json and .md. Reads the corpus in place (never copies it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.config import Settings  # noqa: E402
from kg.llm import runtime  # noqa: E402
from kg.llm.client import response_format  # noqa: E402

SEEDS = Path("/work/shared/corpus/seeds")
OUT = ROOT / "bench" / "results"

RelType = Literal["USED_FOR", "PART_OF", "FEATURE_OF", "COMPARE", "HYPONYM_OF", "NONE"]


class Verdict(BaseModel):
    i: int = Field(ge=0, le=20, description="candidate pair index")
    t: RelType


class ChunkAnswer(BaseModel):
    """An index-based answer like the LLM tier's: verdicts and a short map summary."""

    v: list[Verdict] = Field(max_length=4)
    s: str = Field(max_length=160, description="one-sentence summary of the chunk")


PREFIX = """You check relations between entities that another model found in a chunk of text.
The user message gives the chunk, then numbered candidate pairs "i: A -> B".
For each candidate pair decide which relation the chunk states between A and B, using only
these types:
- USED_FOR: A is a method, tool or resource used to do, make or study B.
- PART_OF: A is a component, section, module or member of B.
- FEATURE_OF: A is a property, attribute or characteristic of B.
- COMPARE: the text compares A with B (better than, faster than, versus).
- HYPONYM_OF: A is a kind, instance or example of B.
- NONE: the chunk does not state a relation between A and B.
Rules:
1. Judge only what the chunk says; never use outside knowledge.
2. Answer with the pair index i and the type t only: never repeat names or quotes.
3. At most four verdicts; skip pairs whose type is NONE.
4. Then write s: one sentence (under 25 words) saying what the chunk is about, for a summary
   of the whole document that will be made from these sentences.
5. Output JSON only, matching the schema: {"v": [{"i": 0, "t": "USED_FOR"}], "s": "..."}.
Examples of good verdicts: a library used to train a model is USED_FOR; a chapter of a book is
PART_OF the book; accuracy of a classifier is FEATURE_OF the classifier; a course that is one of
several online courses is HYPONYM_OF online course. When unsure, prefer NONE over a guess.
Keep the summary factual and neutral; do not start it with "This chunk" or "The text"."""


def chunk_texts(k: int, chars: int = 1000) -> list[str]:
    """K distinct ~300-token pieces of the seed corpus, cut at whitespace."""
    text = " ".join(p.read_text(errors="replace") for p in sorted(SEEDS.glob("*")) if p.is_file())
    text = " ".join(text.split())
    pieces: list[str] = []
    start = 0
    while len(pieces) < k and start < len(text):
        end = text.rfind(" ", start, start + chars)
        end = end if end > start else start + chars
        pieces.append(text[start:end])
        start = end + 1 + chars * 3  # spread the pieces over the corpus
    if len(pieces) < k:
        raise SystemExit(f"the seed corpus gives only {len(pieces)} pieces, need {k}")
    return pieces


def user_message(text: str) -> str:
    words = [w.strip(".,;:()[]\"'") for w in text.split() if w[:1].isupper() and len(w) > 3]
    words = list(dict.fromkeys(w for w in words if w))[:6] or ["it", "this"]
    pairs = [f"{i}: {a} -> {b}" for i, (a, b) in enumerate(itertools.pairwise(words))][:4]
    return f"Chunk:\n{text}\n\nCandidate pairs:\n" + "\n".join(pairs)


@dataclass
class Call:
    prompt_tokens: int
    cached_tokens: int
    prompt_evaluated: int
    completion_tokens: int
    seconds: float
    ok: bool


@dataclass
class Phase:
    config: str
    slots: int
    clients: int
    round: int
    wall_s: float
    load_before: float
    load_after: float
    calls: list[Call] = field(default_factory=list)

    def totals(self) -> dict[str, float]:
        prompt = sum(c.prompt_tokens for c in self.calls)
        evaluated = sum(c.prompt_evaluated for c in self.calls)
        out = sum(c.completion_tokens for c in self.calls)
        return {
            "wall_s": round(self.wall_s, 2),
            "prompt_tokens": prompt,
            "prompt_evaluated": evaluated,
            "cached_tokens": sum(c.cached_tokens for c in self.calls),
            "completion_tokens": out,
            "in_tok_s": round(prompt / self.wall_s, 1),
            "evaluated_tok_s": round(evaluated / self.wall_s, 1),
            "out_tok_s": round(out / self.wall_s, 2),
            "valid_json": sum(c.ok for c in self.calls),
        }


def call(client: httpx.Client, base: str, text: str, max_tokens: int) -> Call:
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": PREFIX},
            {"role": "user", "content": user_message(text)},
        ],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": 7,
        "response_format": response_format(ChunkAnswer),
    }
    started = time.perf_counter()
    resp = client.post(f"{base}/chat/completions", json=body, timeout=600)
    resp.raise_for_status()
    data = resp.json()
    seconds = time.perf_counter() - started
    timings = data.get("timings") or {}
    usage = data.get("usage") or {}
    try:
        ChunkAnswer.model_validate_json(data["choices"][0]["message"]["content"])
        ok = True
    except ValueError:
        ok = False  # cut at max_tokens: counted, not fatal
    return Call(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        cached_tokens=int(timings.get("cache_n") or 0),
        prompt_evaluated=int(timings.get("prompt_n") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        seconds=round(seconds, 2),
        ok=ok,
    )


def run_phase(
    name: str, base: str, slots: int, clients: int, rnd: int, texts: list[str], max_tokens: int
) -> Phase:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with httpx.Client() as client, ThreadPoolExecutor(clients) as pool:
        calls = list(pool.map(lambda t: call(client, base, t, max_tokens), texts))
    wall = time.perf_counter() - started
    phase = Phase(name, slots, clients, rnd, wall, load_before, os.getloadavg()[0], calls)
    print(
        f"{name} round {rnd}: {phase.totals()} load {load_before:.1f}->{phase.load_after:.1f}",
        flush=True,
    )
    return phase


def start(slots: int, cache_root: Path, threads: int) -> runtime.ServerState:
    cache = cache_root / f"slots{slots}"
    cache.mkdir(parents=True)
    (cache / "models").symlink_to(runtime.ensure_model(Settings()).parent, target_is_directory=True)
    settings = Settings(
        cache_dir=cache, workspace=cache / ".kg", llm_slots=slots, llm_threads=threads
    )
    return runtime.start_server(settings)


def summarize(phases: list[Phase]) -> dict[str, Any]:
    by: dict[str, list[Phase]] = {}
    for p in phases:
        by.setdefault(p.config, []).append(p)
    out: dict[str, Any] = {}
    for name, ps in by.items():
        calls = [c for p in ps for c in p.calls]
        wall = sum(p.wall_s for p in ps)
        out[name] = {
            "slots": ps[0].slots,
            "clients": ps[0].clients,
            "requests": len(calls),
            "wall_s": round(wall, 1),
            "s_per_request": round(wall / len(calls), 2),
            "in_tok_s": round(sum(c.prompt_tokens for c in calls) / wall, 1),
            "evaluated_tok_s": round(sum(c.prompt_evaluated for c in calls) / wall, 1),
            "out_tok_s": round(sum(c.completion_tokens for c in calls) / wall, 2),
            "mean_prompt_tokens": round(statistics.mean(c.prompt_tokens for c in calls)),
            "mean_cached_tokens": round(statistics.mean(c.cached_tokens for c in calls)),
            "mean_evaluated_tokens": round(statistics.mean(c.prompt_evaluated for c in calls)),
            "mean_completion_tokens": round(statistics.mean(c.completion_tokens for c in calls), 1),
            "valid_json": sum(c.ok for c in calls),
            "mean_load": round(statistics.mean((p.load_before + p.load_after) / 2 for p in ps), 2),
        }
    return out


def run_section(label: str, result: dict[str, Any]) -> list[str]:
    s = result["summary"]
    one, two = s["1 slot, 1 client"], s["2 slots, 2 clients"]
    lines = [
        f"## {label}",
        "",
        f"{result['when']}, {result['cpus']} CPUs, {result['threads']} llama.cpp threads per "
        f"server; {result['requests']} requests per round, {result['rounds']} round(s) "
        f"alternating between the servers; max_tokens {result['max_tokens']}, JSON-schema output. "
        f"Each request: the fixed system prefix ({result['prefix_tokens']} tokens) + "
        f"{result.get('chunk_chars', 1000)} characters of seed-corpus text.",
        "",
        "| config | requests | wall s | s/request | prompt tok/s | evaluated tok/s "
        "| output tok/s | cached/prompt tokens | valid JSON | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in s.items():
        lines.append(
            f"| {name} | {r['requests']} | {r['wall_s']} | {r['s_per_request']} | "
            f"{r['in_tok_s']} | {r['evaluated_tok_s']} | {r['out_tok_s']} | "
            f"{r['mean_cached_tokens']}/{r['mean_prompt_tokens']} | {r['valid_json']} | "
            f"{r['mean_load']} |"
        )
    return [
        *lines,
        "",
        f"**Speed-up of 2 slots + 2 clients over 1 slot + 1 client: "
        f"{result['speedup']:.2f}x** (total wall time; per round: "
        f"{', '.join(f'{x:.2f}x' for x in result['speedup_per_round'])}).",
        "",
        f"Prompt cache: this run's warm-up call evaluated "
        f"{result['first_call']['prompt_evaluated']} of {result['first_call']['prompt_tokens']} "
        f"prompt tokens; later calls (1 slot) evaluated {one['mean_evaluated_tokens']} of "
        f"{one['mean_prompt_tokens']} on average ({one['mean_cached_tokens']} reused); "
        f"{sum(not c['ok'] for p in result['phases'] for c in p['calls'])} answers cut at "
        "max_tokens are counted as not valid JSON. "
        f"2 slots: {two['out_tok_s']} output tok/s vs {one['out_tok_s']}; "
        f"{two['evaluated_tok_s']} evaluated prompt tok/s vs {one['evaluated_tok_s']}.",
        "",
    ]


def load_results() -> dict[str, Any]:
    path = OUT / "llm_slots.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(results: dict[str, Any]) -> None:
    """The JSON keeps every labelled run; the Markdown shows them all (notes.md on top)."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "llm_slots.json").write_text(json.dumps(results, indent=2) + "\n")
    notes = OUT / "llm_slots.notes.md"
    lines = ["# Offline LLM: 1 slot vs 2 slots (bench/llm_slots.py)", ""]
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    for name, run in results.get("runs", {}).items():
        lines += run_section(name, run)
    extract = results.get("extract", {})
    if extract:
        lines += [
            "## kg extract --concurrency 1 vs 2 (bench/llm_slots_extract.py)",
            "",
            "| run | concurrency | wall s | LLM calls | prompt tokens | output tokens | load avg |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, run in extract.items():
            for r in run["runs"]:
                lines.append(
                    f"| {name} | {r['concurrency']} | {r['wall_s']} | {r['calls']} | "
                    f"{r['prompt_tokens']} | {r['completion_tokens']} | {r['load']} |"
                )
        lines.append("")
        for name, run in extract.items():
            lines.append(f"- {name}: {run['note']}")
        lines.append("")
    (OUT / "llm_slots.md").write_text("\n".join(lines))


def write(label: str, result: dict[str, Any]) -> None:
    results = load_results()
    results.setdefault("runs", {})[label] = result
    save_results(results)


def report(
    phases: list[Phase], args: argparse.Namespace, prefix_tokens: int, first: Call, began: float
) -> dict[str, Any]:
    """Results of the whole rounds so far, written at once (a cut-short run keeps them)."""
    walls: dict[int, dict[str, float]] = {}
    for p in phases:
        walls.setdefault(p.round, {})[p.config] = p.wall_s
    whole = {r for r, w in walls.items() if len(w) == 2}
    phases = [p for p in phases if p.round in whole]
    summary = summarize(phases)
    per_round = [
        w["1 slot, 1 client"] / w["2 slots, 2 clients"] for w in walls.values() if len(w) == 2
    ]
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "threads": args.threads or runtime._threads(),
        "chunk_chars": args.chunk_chars,
        "model": runtime.MODEL_FILE,
        "requests": args.requests,
        "rounds": len(whole),
        "max_tokens": args.max_tokens,
        "prefix_tokens": prefix_tokens,
        "first_call": asdict(first),
        "summary": summary,
        "speedup": summary["1 slot, 1 client"]["wall_s"] / summary["2 slots, 2 clients"]["wall_s"],
        "speedup_per_round": per_round,
        "phases": [{**asdict(p), "totals": p.totals()} for p in phases],
        "seconds": round(time.perf_counter() - began, 1),
    }
    write(args.label, result)
    return result


def measure(args: argparse.Namespace, bases: dict[int, str], began: float) -> dict[str, Any]:
    """Warm both servers' prompt caches, then alternate the two configurations round by round."""
    texts = chunk_texts(args.offset + args.requests * args.rounds + 1, args.chunk_chars)
    texts = [texts[0], *texts[1 + args.offset :]]
    with httpx.Client() as client, ThreadPoolExecutor(2) as pool:
        # one token is enough to put the prefix in each server's prompt cache
        first, _ = pool.map(lambda b: call(client, b, texts[0], 1), [bases[1], bases[2]])
    print(f"first call: {first}", flush=True)
    tokens = httpx.post(
        f"{bases[1].removesuffix('/v1')}/tokenize", json={"content": PREFIX}, timeout=60
    )
    prefix_tokens = len(tokens.json()["tokens"])
    phases: list[Phase] = []
    result: dict[str, Any] = {}
    for rnd in range(args.rounds):
        if rnd and time.perf_counter() - began > args.budget_s:
            print(f"time budget reached after {rnd} rounds", flush=True)
            break
        batch = texts[1 + rnd * args.requests : 1 + (rnd + 1) * args.requests]
        order = [(1, 1), (2, 2)] if (rnd + args.two_first) % 2 == 0 else [(2, 2), (1, 1)]
        for slots, clients in order:
            name = "1 slot, 1 client" if slots == 1 else "2 slots, 2 clients"
            phases.append(
                run_phase(name, bases[slots], slots, clients, rnd, batch, args.max_tokens)
            )
        result = report(phases, args, prefix_tokens, first, began)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=8, help="requests per round and config")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=60)
    ap.add_argument("--budget-s", type=float, default=330, help="stop starting rounds after this")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: one per core)")
    ap.add_argument("--label", default="default threads", help="this run's name in the results")
    ap.add_argument("--chunk-chars", type=int, default=1000, help="corpus text per request")
    ap.add_argument(
        "--urls", nargs=2, metavar=("SLOT1_URL", "SLOT2_URL"),
        help="use running servers (1 slot, 2 slots) instead of starting two",
    )  # fmt: skip
    ap.add_argument("--offset", type=int, default=0, help="skip this many corpus pieces")
    ap.add_argument("--two-first", type=int, default=0, help="1: the 2-slot config goes first")
    args = ap.parse_args()
    began = time.perf_counter()
    if args.urls:
        result = measure(args, {1: args.urls[0], 2: args.urls[1]}, began)
    else:
        with tempfile.TemporaryDirectory(prefix="kg-llm-slots-") as tmp:
            with ThreadPoolExecutor(2) as pool:  # both servers start side by side
                states = list(pool.map(lambda n: start(n, Path(tmp), args.threads), (1, 2)))
            try:
                result = measure(args, {1: states[0].base_url, 2: states[1].base_url}, began)
            finally:
                runtime.stop_own_servers()
    print(json.dumps(result.get("summary"), indent=2))
    print(f"speed-up {result.get('speedup', 0):.2f}x; {result.get('seconds')}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
