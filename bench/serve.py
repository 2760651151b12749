"""Bounded load test of ``POST /v1/search`` on loopback, over the SciFact corpus.

One chunk per abstract (no LLM, no spaCy), served by ``uvicorn --factory app.server:app_from_env``
with one and then two workers; for 1, 4 and 16 concurrent clients it sends a fixed number of
requests (or stops at a time limit) and reports throughput and p50/p95/p99 latency.

    .venv/bin/python bench/serve.py            # writes bench/results/serve.md and serve.json

``--corpus seeds --workspace DIR``: the seed corpus instead, from a workspace extracted and
loaded beforehand (``bench/store_parity.py --workspace DIR`` makes one), answered store-backed
(the server's retriever reads the embedded FalkorDB); questions from ``bench/seeds_qa.jsonl``;
writes serve_seeds.md/.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
SEEDS_QA = ROOT / "bench" / "seeds_qa.jsonl"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"  # loopback only, by design


def build_workspace(root: Path, limit: int | None = None) -> int:
    """SciFact abstracts as documents with one chunk each; indexes are built (and cached) here."""
    sys.path.insert(0, str(ROOT))
    from kg import __version__
    from kg.models import Chunk, Document, Manifest
    from kg.retrieval.retriever import Retriever
    from kg.workspace import Workspace

    ws = Workspace(root)
    if not ws.exists():
        docs, chunks = [], []
        with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if limit is not None and n >= limit:
                    break
                rec = json.loads(line)
                text = f"{rec['title']}\n\n{rec['text']}".strip()
                doc = Document.from_text(f"scifact/{rec['_id']}", text, title=rec["title"])
                docs.append(doc)
                chunks.append(Chunk.make(doc.id, 0, 0, text))
        ws.write("documents", docs)
        ws.write("chunks", chunks)
        ws.write_manifest(
            Manifest(
                kg_version=__version__,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                counts={"documents": len(docs), "chunks": len(chunks)},
            )
        )
    t = time.perf_counter()
    retriever = Retriever.open(ws).build()
    print(f"indexes ready for {len(retriever.chunks)} chunks in {time.perf_counter() - t:.1f} s")
    return len(retriever.chunks)


def seeds_workspace(root: Path) -> int:
    """A loaded seed workspace, checked to answer from the store; returns its chunk count."""
    sys.path.insert(0, str(ROOT))
    from kg.retrieval.retriever import Retriever
    from kg.workspace import Workspace

    ws = Workspace(root)
    if not (ws.root / "loaded.json").is_file():
        raise SystemExit(f"{root}: not a loaded workspace (run bench/store_parity.py first)")
    r = Retriever.open(ws)
    if r.source is None:
        raise SystemExit(f"{root}: the retriever does not read the store")
    r.sync()
    n = len(r.chunks)
    r.close()
    return n


def memory_copy(root: Path, dest: Path) -> Path:
    """The workspace without its load record and store: the same files, searched in memory
    (the same-run baseline of the store-backed path)."""
    import shutil

    skip = {"loaded.json", "loaded.sqlite", "loaded", "store", "index"}
    shutil.copytree(root, dest, ignore=lambda d, names: [n for n in names if n in skip]
                    if Path(d) == root else [])  # fmt: skip
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(workspace: Path, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KG_WORKSPACE": str(workspace), "KG_NO_LLM": "1", "KG_NO_UI": "1"}
    env.pop("KG_API_KEY", None)
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "app.server:app_from_env",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
        "--http", "app.server:NoDelayHTTPProtocol",  # see its docstring: +40 ms without it
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError("server did not come up")


async def load(
    base: str, queries: list[str], clients: int, requests: int, duration: float, body: dict
) -> dict[str, float]:
    """``clients`` workers share ``requests`` requests; all stop at ``duration`` seconds."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            nonlocal sent, errors
            while sent < requests and time.perf_counter() < deadline:
                q = queries[sent % len(queries)]
                sent += 1
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/search", json={**body, "query": q})
                    ok = r.status_code == 200 and r.json()["hits"]
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


async def run(args: argparse.Namespace, workspace: Path, backend: str = "") -> list[dict]:
    source, key = (SEEDS_QA, "question") if args.corpus == "seeds" else (
        SCIFACT / "queries.jsonl", "text")  # fmt: skip
    queries = [
        json.loads(line)[key] for line in source.read_text(encoding="utf-8").splitlines() if line
    ]
    rows = []
    for workers in args.workers:
        port = free_port()
        proc = start_server(workspace, workers, port)
        base = f"http://{HOST}:{port}"
        try:
            await wait_ready(base, proc)
            # warm every worker: the first search in a process loads the indexes
            warm = {"mode": "hybrid", "k": args.k}  # loads every index the modes below use
            await load(base, queries[-60:], 4 * workers, max(20 * workers, 60), 180, warm)
            for mode in args.mode:
                body = {"mode": mode, "k": args.k}
                for clients in args.concurrency:
                    load_avg = round(os.getloadavg()[0], 2)
                    row = await load(base, queries, clients, args.requests, args.duration, body)
                    row = {"workers": workers, "mode": mode + backend, **row,
                           "load_avg_1m": load_avg}  # fmt: skip
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            stop_server(proc)
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| mode | workers | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | load |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = ("mode", "workers", "clients", "requests", "errors", "rps", "p50_ms", "p95_ms")
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]) for k in (*keys, "p99_ms", "load_avg_1m")) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    ap.add_argument("--duration", type=float, default=20.0, help="time limit per level (s)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--mode", nargs="+", default=["hybrid", "bm25"], choices=["hybrid", "bm25", "vector"]
    )
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--docs", type=int, default=None, help="only the first N abstracts")
    ap.add_argument("--corpus", choices=["scifact", "seeds"], default="scifact")
    ap.add_argument(
        "--compare-memory", action="store_true",
        help="seeds: also serve a copy of the workspace that was never loaded (in memory)",
    )  # fmt: skip
    ap.add_argument(
        "--workspace",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kg-bench-scifact",
    )
    args = ap.parse_args()
    seeds = args.corpus == "seeds"
    ws = args.workspace
    n_chunks = seeds_workspace(ws) if seeds else build_workspace(ws, args.docs)
    rows = asyncio.run(run(args, args.workspace, " (store)" if seeds else ""))
    if seeds and args.compare_memory:
        import tempfile

        copy = memory_copy(ws.resolve(), Path(tempfile.mkdtemp(prefix="kg-serve-")) / ".kg")
        rows += asyncio.run(run(args, copy, " (memory)"))
    at4 = [r for r in rows if r["clients"] == 4 and r["mode"] in ("hybrid", "hybrid (store)")]
    meta = {
        "bench": "serve",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "endpoint": "POST /v1/search",
        "corpus": (
            f"seed corpus, {n_chunks} chunks, store-backed (embedded FalkorDB), questions of "
            "bench/seeds_qa.jsonl"
            if seeds
            else f"SciFact, {n_chunks} abstracts, one chunk each"
        ),
        "modes": args.mode,
        "k": args.k,
        "requests_per_level": args.requests,
        "duration_limit_s": args.duration,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), Python "
        f"{platform.python_version()}",
        "target": "p95 < 100 ms at 4 clients (hybrid)",
        "target_met": bool(at4) and all(r["p95_ms"] < 100 for r in at4),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "serve_seeds" if seeds else "serve"
    (RESULTS / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    md = (
        f"# serve: {meta['endpoint']} under bounded load\n\n"
        f"{meta['corpus']}; modes {', '.join(args.mode)}; k={args.k}; loopback, uvicorn, "
        "no LLM, no UI.\n"
        f"Each level: {args.requests} requests or {args.duration:.0f} s, whichever first. "
        f"{meta['machine']}. {meta['date']}.\n`load` is the machine's 1-minute load average "
        "when the level started (other work shares these CPUs).\n\n"
        f"{table(rows)}\n\n"
        f"Target {meta['target']}: {'met' if meta['target_met'] else 'NOT met'}.\n"
    )
    (RESULTS / f"{name}.md").write_text(md, encoding="utf-8")
    print("\n" + table(rows))


if __name__ == "__main__":
    main()
