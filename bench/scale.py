"""Benchmark `kg extract` at scale: KB per CPU-second, peak RSS and files written (issue 24).

The corpus is built deterministically in a temp dir (never committed): the seed notes, then
SciFact's abstracts grouped into markdown files of about 200 KB ("# title" + abstract), pass
after pass; pass k > 0 reorders each abstract's sentences with ``random.Random(k)`` so every
pass is new text (a repeated text would be a cache hit, not work). ``--mb`` sets the size
(100 by default; a slice of the same sequence when smaller). Each mode runs
`kg extract CORPUS --llm off` in a fresh workspace as a subprocess: ``--workers 1``,
``--workers 2`` and ``--engine ray``. CPU-seconds count every process of the run (the
process tree is sampled from /proc every 0.2 s; waited children are also counted by rusage).

    .venv/bin/python bench/scale.py --mb 5                 # the slice the README table uses
    .venv/bin/python bench/scale.py --mb 100 --modes w2    # the 100 MB memory/file check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (as the other benchmarks), or KG_SHARED
SHARED = Path(os.environ.get("KG_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "corpus" / "seeds"
SCIFACT = SHARED / "eval" / "scifact" / "corpus.jsonl"
RESULTS = ROOT / "bench" / "results"
FILE_BYTES = 200_000
MODES = {
    "w1": ["--workers", "1"],
    "w2": ["--workers", "2"],
    "ray": ["--engine", "ray", "--workers", "2"],
}
_SENT = re.compile(r"(?<=[.!?])\s+")


def build_corpus(out: Path, mb: float) -> int:
    """Write the corpus into ``out``; returns its size in bytes (deterministic for ``mb``)."""
    budget = int(mb * 1_000_000)
    written = 0
    out.mkdir(parents=True, exist_ok=True)
    for seed in sorted(SEEDS.glob("*")):
        text = seed.read_text(encoding="utf-8")[: budget - written]
        (out / seed.name).write_text(text, encoding="utf-8")
        written += len(text.encode("utf-8"))
    rows = [json.loads(line) for line in SCIFACT.read_text(encoding="utf-8").splitlines()]
    rows.sort(key=lambda r: int(r["_id"]))
    k, n, buf = 0, 0, []
    while written < budget:
        rng = random.Random(k)
        for row in rows:
            sents = _SENT.split(row["text"].strip())
            if k:
                rng.shuffle(sents)
            part = f"# {row['title']}\n\n{' '.join(sents)}\n\n"
            buf.append(part)
            size = len(part.encode("utf-8"))
            written += size
            if sum(len(b) for b in buf) >= FILE_BYTES or written >= budget:
                (out / f"scifact_{k:02d}_{n:05d}.md").write_text("".join(buf), encoding="utf-8")
                buf, n = [], n + 1
            if written >= budget:
                break
        k += 1
    return sum(p.stat().st_size for p in out.iterdir())


def _tree(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def _sample(pid: int) -> tuple[dict[int, float], dict[int, int]]:
    """CPU seconds and RSS bytes of every process in ``pid``'s tree."""
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu, rss = {}, {}
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu[p] = (int(fields[11]) + int(fields[12])) / tick
            rss[p] = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
        except (OSError, IndexError):
            continue
    return cpu, rss


def run_mode(corpus: Path, work: Path, args: list[str]) -> dict[str, Any]:
    ws = work / ".kg"
    cmd = [str(ROOT / ".venv" / "bin" / "kg"), "extract", str(corpus), "--llm", "off",
           "--workspace", str(ws), *args]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=work)
    seen: dict[int, float] = {}
    peak = parent_peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak, parent_peak
        while not stop.is_set():
            cpu, rss = _sample(proc.pid)
            for p, c in cpu.items():
                seen[p] = max(seen.get(p, 0.0), c)
            peak = max(peak, sum(rss.values()))
            parent_peak = max(parent_peak, rss.get(proc.pid, 0))
            stop.wait(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    output = proc.communicate()[0].decode("utf-8", "replace")
    wall = time.perf_counter() - t0
    stop.set()
    thread.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output[-2000:]}")
    files = sum(1 for p in ws.rglob("*") if p.is_file())
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(max(rusage_cpu, sum(seen.values())), 1),
        "peak_rss_mb": round(peak / 2**20),
        "parent_peak_rss_mb": round(parent_peak / 2**20),
        "files": files,
        "digest": _digest(ws),
    }


def _digest(ws: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in sorted(ws.glob("*.jsonl")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--modes", default="w1,w2,ray")
    ap.add_argument("--name", default="scale")
    ap.add_argument("--corpus", type=Path, help="measure this folder instead (e.g. the seeds)")
    args = ap.parse_args()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kg-scale-") as tmp:
        corpus = args.corpus or Path(tmp) / "corpus"
        if args.corpus:
            size = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
        else:
            size = build_corpus(corpus, args.mb)
        n_files = len(list(corpus.iterdir()))
        kb = size / 1000
        for mode in args.modes.split(","):
            work = Path(tmp) / mode
            work.mkdir()
            r = run_mode(corpus, work, MODES[mode])
            r.update(mode=" ".join(MODES[mode]), kb_per_cpu_s=round(kb / r["cpu_s"], 2),
                     kb_per_wall_s=round(kb / r["wall_s"], 2))  # fmt: skip
            rows.append(r)
            print(json.dumps(r), flush=True)
    out = {
        "corpus_mb": round(size / 1e6, 2),
        "corpus_files": n_files,
        "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# kg extract at scale ({out['corpus_mb']} MB corpus, "
        f"{args.corpus.name if args.corpus else 'built by bench/scale.py'}, --llm off)",
        "",
        f"Load average before/after: {out['load_before']} / {out['load_after']} "
        f"on {out['cpus']} CPUs.",
        "",
        "| mode | wall s | CPU s (all processes) | KB per CPU-s | KB per wall-s | peak RSS MB "
        "| files in workspace | output digest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['mode']}` | {r['wall_s']} | {r['cpu_s']} | {r['kb_per_cpu_s']} | "
            f"{r['kb_per_wall_s']} | {r['peak_rss_mb']} | {r['files']} | `{r['digest']}` |"
        )
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
