"""API soak: mixed /v1/search, /v1/ask (no LLM), /v1/entities and /v1/cypher from 4 clients.

``kg serve --no-llm`` runs over a workspace (by default the seed corpus, extracted with the LLM
tier off and loaded once into a cache folder); 4 clients on loopback (127.0.0.1 only) send a
fixed mix until the time or request limit, whichever comes first, so it always stops by itself.
It reports errors, p50/p95/p99 per route, and the server's RSS sampled every ``--sample``
seconds; RSS is flat when the last minute's mean is within 10 % of the second minute's (for a
run under three minutes: its last sixth against its third, after the warm-up).

    .venv/bin/python bench/soak.py                   # 10 min; writes bench/results/soak.md|json
    .venv/bin/python bench/soak.py --seconds 45 --workspace W --no-write   # what the suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
if not SEEDS.is_dir():  # a clone under /work/clones
    SEEDS = Path("/work/shared/corpus/seeds")
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"  # loopback only, by design
KG = str(Path(sys.executable).parent / "kg")
CLIENTS = 4
ROUTES = ("search", "ask", "entities", "cypher")
CYPHER = (
    "MATCH (e:Entity) RETURN e.type AS type, count(*) AS n ORDER BY n DESC LIMIT 10",
    "MATCH (d:Document) RETURN d.title AS title LIMIT 5",
    "MATCH (e:Entity)-[r]->(f:Entity) RETURN type(r) AS rel, count(*) AS n LIMIT 10",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def prepare_workspace(root: Path, corpus: Path) -> Path:
    """Extract (LLM tier off) and load ``corpus`` into ``root`` once; reused on later runs."""
    ws = root / ".kg"
    if not (ws / "loaded.json").is_file():
        env = {**os.environ, "KG_WORKSPACE": str(ws), "OMP_NUM_THREADS": "1"}
        for args in (["extract", str(corpus), "--llm", "off"], ["load"]):
            subprocess.run([KG, *args], env=env, check=True, timeout=3600)
    return ws


def queries_from(ws: Path, n: int = 40) -> list[str]:
    """Search terms taken from the workspace's own entities (most mentioned first)."""
    names: list[tuple[int, str]] = []
    with (ws / "entities.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            ent = json.loads(line)
            names.append((len(ent.get("mentions") or []), ent["name"]))
    names.sort(reverse=True)
    return [name for _, name in names[:n]] or ["notes"]


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    examples: list[str] = field(default_factory=list)


async def _one(client: httpx.AsyncClient, route: str, term: str, rng: random.Random) -> None:
    if route == "search":
        resp = await client.post("/v1/search", json={"query": term, "k": 8})
    elif route == "ask":
        resp = await client.post("/v1/ask", json={"question": f"What is {term}?", "k": 6})
    elif route == "entities":
        resp = await client.get("/v1/entities", params={"q": term, "limit": 10})
    else:
        resp = await client.post("/v1/cypher", json={"query": rng.choice(CYPHER)})
    resp.raise_for_status()


async def _client(
    n: int, base: str, terms: list[str], tally: Tally, stop_at: float, budget: list[int]
) -> None:
    rng = random.Random(n)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        while time.monotonic() < stop_at and budget[0] > 0:
            budget[0] -= 1
            route = ROUTES[rng.randrange(len(ROUTES))]
            t0 = time.perf_counter()
            try:
                await _one(client, route, rng.choice(terms), rng)
            except httpx.HTTPError as exc:
                tally.errors[route] += 1
                if len(tally.examples) < 5:
                    tally.examples.append(f"{route}: {exc!r}"[:200])
                continue
            tally.latencies[route].append(time.perf_counter() - t0)


async def _sampler(
    pid: int, every: float, stop_at: float, samples: list[tuple[float, int]]
) -> None:
    t0 = time.monotonic()
    while time.monotonic() < stop_at:
        samples.append((round(time.monotonic() - t0, 1), rss_kb(pid)))
        await asyncio.sleep(every)
    samples.append((round(time.monotonic() - t0, 1), rss_kb(pid)))


def flatness(samples: list[tuple[float, int]], seconds: float) -> dict[str, Any]:
    """Second minute vs last minute; a run under three minutes compares its third sixth with
    its last (its first two sixths are the warm-up: models and caches loading)."""
    window = 60.0 if seconds >= 180 else seconds / 6
    start = window if seconds >= 180 else 2 * window
    second = [kb for t, kb in samples if start <= t < start + window]
    last = [kb for t, kb in samples if t >= seconds - window]
    if not second or not last:
        return {"flat": False, "reason": "too few samples"}
    a, b = float(np.mean(second)), float(np.mean(last))
    change = (b - a) / a if a else 0.0
    return {"window_s": round(window, 1), "second_mean_mb": round(a / 1024, 1),
            "last_mean_mb": round(b / 1024, 1), "change": round(change, 4),
            "flat": abs(change) <= 0.10}  # fmt: skip


def soak(ws: Path, seconds: float, max_requests: int, sample_s: float) -> dict[str, Any]:
    """Start ``kg serve --no-llm`` on ``ws``, run the clients, stop the server; the figures."""
    port = _free_port()
    base = f"http://{HOST}:{port}"
    proc = subprocess.Popen(
        [KG, "serve", "--no-llm", "--host", HOST, "--port", str(port), "-w", str(ws)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"kg serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("kg serve did not become ready")
        terms = queries_from(ws)
        tally, samples = Tally(), []
        load_before = os.getloadavg()
        t0 = time.monotonic()
        stop_at = t0 + seconds
        budget = [max_requests]

        async def run_all() -> None:
            await asyncio.gather(
                _sampler(proc.pid, sample_s, stop_at, samples),
                *(_client(n, base, terms, tally, stop_at, budget) for n in range(CLIENTS)),
            )

        asyncio.run(run_all())
        took = time.monotonic() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    routes = {}
    for route in ROUTES:
        lat = np.array(tally.latencies[route]) * 1000
        routes[route] = {
            "requests": int(lat.size), "errors": tally.errors[route],
            **({f"p{q}_ms": round(float(np.percentile(lat, q)), 1) for q in (50, 95, 99)}
               if lat.size else {}),
        }  # fmt: skip
    total = sum(r["requests"] for r in routes.values())
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "workspace": str(ws), "clients": CLIENTS, "seconds": round(took, 1),
        "requests": total, "errors": sum(tally.errors.values()),
        "error_examples": tally.examples, "throughput_rps": round(total / took, 2),
        "routes": routes, "rss_kb": samples, "rss": flatness(samples, took),
        "server_exit": proc.returncode,
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    rss = result["rss"]
    lines = [
        "# API soak (bench/soak.py)", "",
        f"{result['date']} · {result['machine']} · load average before "
        f"{result['load_avg_before']}, after {result['load_avg_after']}", "",
        f"{result['clients']} clients on loopback, {result['seconds']} s, "
        f"{result['requests']} requests ({result['throughput_rps']} req/s), "
        f"**{result['errors']} errors**; server exit code {result['server_exit']}.", "",
        "| route | requests | errors | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, r in result["routes"].items():
        lines.append(f"| {name} | {r['requests']} | {r['errors']} | {r.get('p50_ms', '-')} | "
                     f"{r.get('p95_ms', '-')} | {r.get('p99_ms', '-')} |")  # fmt: skip
    lines += ["", f"RSS of kg serve: second window {rss.get('second_mean_mb')} MB, last "
              f"{rss.get('last_mean_mb')} MB (change {rss.get('change')}, windows "
              f"{rss.get('window_s')} s): {'flat' if rss.get('flat') else 'NOT flat'}.",
              ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--sample", type=float, default=10.0, help="RSS sampling period (s)")
    parser.add_argument("--workspace", type=Path, help="a loaded workspace (default: the seeds)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/kg-soak"),
                        help="where the seed workspace is built once")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    ws = args.workspace or prepare_workspace(args.cache, SEEDS)
    result = soak(ws, args.seconds, args.max_requests, args.sample)
    text = markdown(result)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "soak.md").write_text(text, encoding="utf-8")
        (RESULTS / "soak.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["errors"] == 0 and result["rss"].get("flat") else 1


if __name__ == "__main__":
    sys.exit(main())
