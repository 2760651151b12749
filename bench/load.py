"""Loader benchmark on the embedded FalkorDB: a synthetic graph loaded in full, re-loaded
unchanged, updated by 1 % and loaded incrementally (against a full reload of the same files),
next to a same-run baseline: the barest UNWIND/MERGE of the very same rows (same labels,
properties and indexes; ``cypher/bench/``) sent batch after batch by the FalkorDB client. Then
every ``cypher/browser/`` query, p50/p95, with parameters that hit the synthetic graph.

    .venv/bin/python bench/load.py [--scale 290k|1m] [--out bench/results]

Writes bench/results/load.md and .json (``--scale 1m`` writes load_1m.md/.json).

Every chunk and entity gets a 384-dim float32 vector in the workspace (random, seeded: what
``kg extract`` writes, without spending minutes encoding), so the loads carry the embeddings
(``--no-vectors``: without, as before). ``--quick``: only the kg loads (no bare baseline, no
browser queries).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.config import Settings  # noqa: E402
from kg.cypher import browser_queries, cypher  # noqa: E402
from kg.store import open_store  # noqa: E402
from kg.store.falkordb import FalkorDBStore  # noqa: E402
from kg.store.rows import GraphRows, rows_from_workspace  # noqa: E402
from kg.workspace import Workspace  # noqa: E402
from pipelines.load import load_workspace  # noqa: E402
from tests.synthetic_graph import synthetic, write_graph  # noqa: E402

# docs, chunks, entities, relations, mentions per entity
SCALES = {
    "smoke": (10, 200, 500, 1000, 2),
    "290k": (200, 20_000, 50_000, 100_000, 2),
    "1m": (500, 50_000, 100_000, 300_000, 5),
}
QUERY_RUNS = 20
QUERY_BUDGET_S = 20.0  # per query: stop repeating a slow one after this (3 runs at least)
QUERY_PARAMS = {  # names and paths that exist in the synthetic graph
    "name": "thing 7", "source": "thing 7", "target": "thing 8", "head": "thing 7",
    "tail": "thing 8", "doc": "notes/00007", "text": "thing 77",
}  # fmt: skip


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (the load's wall time on a shared machine says
    more about the neighbours than about the loader)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Meter:
    """Wall and CPU seconds of this process and of the store's server around a step."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> Meter:
        self.t0, self.c0, self.s0 = time.perf_counter(), cpu_s(os.getpid()), cpu_s(self.server_pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = round(time.perf_counter() - self.t0, 3)
        self.client_cpu = round(cpu_s(os.getpid()) - self.c0, 2)
        self.server_cpu = round(cpu_s(self.server_pid) - self.s0, 2)

    def figures(self) -> dict[str, float]:
        return {"seconds": self.wall, "client_cpu_s": self.client_cpu,
                "server_cpu_s": self.server_cpu}  # fmt: skip


def bare_load(store: FalkorDBStore, rows: GraphRows, batch: int) -> int:
    """The baseline: every row by the barest UNWIND/MERGE, sequentially, stock client."""
    graph = store._graph
    sent = 0

    def send(query: str, items: list[dict[str, Any]]) -> None:
        nonlocal sent
        for start in range(0, len(items), batch):
            graph.query(query, {"rows": items[start : start + batch]})
        sent += len(items)

    def edges(items: list[dict[str, Any]], a: str, b: str, keep: tuple[str, ...] = ()) -> list:
        return [{"a": r[a], "b": r[b], "props": {k: r[k] for k in keep}} for r in items]

    send(cypher("bench/bare_nodes", label="Document"), rows.documents)
    send(cypher("bench/bare_nodes", label="Chunk"), rows.chunks)
    send(cypher("bench/bare_has_chunk"), edges(rows.chunks, "doc_id", "id"))
    send(cypher("bench/bare_next"), edges(rows.next, "prev_id", "next_id"))
    send(cypher("bench/bare_nodes", label="Summary"), rows.summaries)
    send(cypher("bench/bare_summarizes"), edges(rows.summaries, "id", "doc_id"))
    for label, items in sorted(rows.entities.items()):
        send(cypher("bench/bare_entities", label=label), items)
    keep = ("start", "end", "text")
    send(cypher("bench/bare_mentions"), edges(rows.mentions, "chunk_id", "entity_id", keep))
    for rel_type, items in sorted(rows.relations.items()):
        props = ("id", "chunk_ids", "doc_ids", "confidence", "extractor", "description")
        send(cypher("bench/bare_relations", rel_type=rel_type),
             edges(items, "head_id", "tail_id", props))  # fmt: skip
    return sent


def replace_files(ws: Workspace, graph: dict[str, list[Any]], vectors: bool = True) -> None:
    write_graph(ws, graph, kg_version="bench")
    if vectors:
        write_vectors(ws, graph)


def write_vectors(ws: Workspace, graph: dict[str, list[Any]]) -> None:
    """Seeded unit vectors for every chunk and entity, in kg extract's workspace format."""
    import numpy as np

    from kg.retrieval.embed import DIM, MODEL_ID
    from kg.retrieval.embed_workspace import VectorTable, save_vectors, vectors_path

    for kind in ("chunks", "entities"):
        ids = [x.id for x in graph[kind]]
        seed = int.from_bytes(kind.encode(), "little") % 2**32
        m = np.random.default_rng(seed).standard_normal((len(ids), DIM)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        save_vectors(vectors_path(ws.root, kind, MODEL_ID), VectorTable(MODEL_ID, ids, m))


def run_queries(store: FalkorDBStore) -> list[dict[str, Any]]:
    out = []
    for q in browser_queries():
        params = {k: QUERY_PARAMS.get(k, v) for k, v in q.params.items()}
        times, rows, error = [], 0, ""
        began = time.perf_counter()
        for n in range(QUERY_RUNS):
            if n >= 3 and time.perf_counter() - began > QUERY_BUDGET_S:
                break
            t0 = time.perf_counter()
            try:
                rows = len(store.read(q.query, params, timeout_ms=10_000))
            except Exception as exc:  # a timeout is a result here
                error = f"{type(exc).__name__}: {str(exc)[:80]}"
                break
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out.append({
            "query": q.name, "runs": len(times), "rows": rows, "error": error,
            "p50_ms": round(statistics.median(times), 1) if times else None,
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1)
            if times else None,
        })  # fmt: skip
        print(f"  {q.name}: {out[-1]}", flush=True)
    return out


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    n_docs, n_chunks, n_entities, n_relations, n_mentions = SCALES[args.scale]
    sizes = dict(n_docs=n_docs, n_chunks=n_chunks, n_entities=n_entities,
                 n_relations=n_relations, per_entity=n_mentions)  # fmt: skip
    ws = Workspace(tmp / "ws")
    t0 = time.perf_counter()
    replace_files(ws, synthetic(**sizes, seed=1), args.vectors)
    generate = round(time.perf_counter() - t0, 1)
    print(f"generated in {generate}s", flush=True)
    res: dict[str, Any] = {"scale": args.scale, "sizes": sizes, "generate_s": generate,
                           "vectors": args.vectors}  # fmt: skip
    with open_store(Settings(), ws) as store:
        assert isinstance(store, FalkorDBStore) and store.server and store.server.info
        pid = store.server.info.pid
        with Meter(pid) as m:
            full = load_workspace(ws, store, rebuild=True, batch_size=args.batch, progress=False)
        res["full"] = {**m.figures(), "rows": full.rows_total,
                       "rows_per_s": round(full.rows_total / m.wall), "counts": full.written,
                       "vectors": full.vectors}  # fmt: skip
        print("full", res["full"], flush=True)
        with Meter(pid) as m:
            again = load_workspace(ws, store, batch_size=args.batch, progress=False)
        res["unchanged"] = {**m.figures(), "mode": again.mode}

        if args.quick:
            return res
        rows = rows_from_workspace(ws)
        with FalkorDBStore(store.server.url, graph="kg_bare") as bare:
            bare.clear()
            with Meter(pid) as m:
                sent = bare_load(bare, rows, args.batch)
            res["baseline"] = {**m.figures(), "rows": sent, "rows_per_s": round(sent / m.wall),
                               "counts_equal": bare.counts() == full.written}  # fmt: skip
            print("baseline", res["baseline"], flush=True)
            bare._graph.delete()
        del rows

        replace_files(ws, synthetic(**sizes, seed=1, version=1), args.vectors)
        with Meter(pid) as m:
            inc = load_workspace(ws, store, batch_size=args.batch, progress=False)
        res["incremental"] = {**m.figures(), "rows": inc.rows_total, "mode": inc.mode,
                              "added_docs": len(inc.added_docs),
                              "removed_docs": len(inc.removed_docs)}  # fmt: skip
        print("incremental", res["incremental"], flush=True)
        with Meter(pid) as m:
            reload = load_workspace(ws, store, rebuild=True, batch_size=args.batch, progress=False)
        res["full_reload"] = {**m.figures(), "rows": reload.rows_total}
        res["incremental"]["counts_equal_full"] = inc.written == reload.written
        res["speedup"] = round(reload.seconds / max(inc.seconds, 1e-3), 1)
        res["speedup_cpu"] = round(
            (m.client_cpu + m.server_cpu)
            / max(res["incremental"]["client_cpu_s"] + res["incremental"]["server_cpu_s"], 0.01),
            1,
        )
        res["queries"] = run_queries(store)
        info = store._db.connection.info("memory")
        res["memory_mb"] = {
            "kg_peak_rss": rss_mb(os.getpid(), "VmHWM"),
            "store_rss": rss_mb(pid),
            "store_used_memory": round(info.get("used_memory", 0) / 2**20, 1),
        }
    res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return res


def table(r: dict[str, Any], args: argparse.Namespace) -> str:
    s = r["sizes"]
    f, b, inc = r["full"], r["baseline"], r["incremental"]
    lines = [
        f"# Loader benchmark ({r['scale']})",
        "",
        f"Synthetic graph: {s['n_docs']} documents, {s['n_chunks']} chunks, {s['n_entities']} "
        f"entities ({s['per_entity']} mentions each), {s['n_relations']} relations; batch "
        f"{args.batch}; 1% update = 1% of documents rewritten + 1% of entities and relations "
        f"changed. Embedded FalkorDB, {platform.machine()}, {os.cpu_count()} CPUs shared with "
        f"other jobs; load average at the end {r['loadavg_end']}. {dt.date.today()}. "
        "Wall seconds depend on the neighbours (the run is niced); CPU seconds of the kg "
        "process and of the FalkorDB server are given beside them.",
        "",
        "| step | rows | wall s | rows/s | kg CPU s | server CPU s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| baseline: bare UNWIND/MERGE, same rows, prebuilt, stock client | {b['rows']} | "
        f"{b['seconds']} | {b['rows_per_s']} | {b['client_cpu_s']} | {b['server_cpu_s']} |",
        f"| kg full load (reads the workspace, builds rows) | {f['rows']} | {f['seconds']} | "
        f"{f['rows_per_s']} | {f['client_cpu_s']} | {f['server_cpu_s']} |",
        f"| unchanged re-load | 0 | {r['unchanged']['seconds']} | – | "
        f"{r['unchanged']['client_cpu_s']} | {r['unchanged']['server_cpu_s']} |",
        f"| 1% incremental ({inc['mode']}) | {inc['rows']} | {inc['seconds']} | – | "
        f"{inc['client_cpu_s']} | {inc['server_cpu_s']} |",
        f"| full reload of the updated files | {r['full_reload']['rows']} | "
        f"{r['full_reload']['seconds']} | – | {r['full_reload']['client_cpu_s']} | "
        f"{r['full_reload']['server_cpu_s']} |",
        "",
        f"Full load / baseline: {round(f['seconds'] / b['seconds'], 2)}x the baseline's wall "
        f"time. Incremental speed-up over the full reload: {r['speedup']}x wall, "
        f"{r['speedup_cpu']}x CPU (kg + server). Counts after the incremental load equal the "
        f"full reload's: {inc['counts_equal_full']}; baseline graph counts equal kg's: "
        f"{b['counts_equal']}.",
        "",
        f"Memory: kg process peak RSS {r['memory_mb']['kg_peak_rss']} MB; FalkorDB RSS "
        f"{r['memory_mb']['store_rss']} MB (used_memory {r['memory_mb']['store_used_memory']} "
        "MB).",
        "",
        f"Browser queries (`cypher/browser/`, {QUERY_RUNS} runs each or as many as fit in "
        f"{QUERY_BUDGET_S:.0f} s (at least 3), parameters naming synthetic entities and "
        "documents):",
        "",
        "| query | runs | rows | p50 ms | p95 ms | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for q in r["queries"]:
        note = q["error"] or ("over 200 ms" if (q["p95_ms"] or 0) > 200 else "")
        lines.append(
            f"| {q['query']} | {q['runs']} | {q['rows']} | {q['p50_ms']} | {q['p95_ms']} | {note} |"
        )
    lines += [
        "",
        "kg/retrieval runs no Cypher against the store (the graph retriever builds its PageRank "
        "graph from the workspace files), so the browser queries are the store's query load.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="290k")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--vectors", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--quick", action="store_true", help="only the kg loads; JSON to stdout")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kgbench"))
    try:
        result = run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.quick:
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result))
        return
    text = table(result, args)
    print(text)
    stem = "load" if args.scale == "290k" else f"load_{args.scale}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text + "\n", encoding="utf-8")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
