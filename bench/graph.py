"""Graph-quality benchmark: `kg extract --spacy-only`, then `kg eval graph` on the hand-made golds.

Runs the real CLI (as a user would) over the seed corpus (gold bench/seeds_graph.jsonl) and over
examples/notes (gold examples/notes_graph.jsonl), each into a fresh temporary workspace, and
writes bench/results/graph.md and graph.json with wall times and the load average.

    nice -n 10 .venv/bin/python bench/graph.py
    .venv/bin/python bench/graph.py --only notes --extract-args "--ontology default"

To measure a committed state while the working tree is busy, run it from an export of that commit
(`git archive HEAD | tar -x -C DIR`) with `--seeds` and `--results` pointing back here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
RESULTS = ROOT / "bench" / "results"
CORPORA = {
    "seeds": (SEEDS, ROOT / "bench" / "seeds_graph.jsonl"),
    "notes": (ROOT / "examples" / "notes", ROOT / "examples" / "notes_graph.jsonl"),
}
METRICS = (
    "facts", "entity_recall", "typed_entity_recall", "fact_recall", "typed_fact_recall",
    "related_to_share", "entities", "relations", "entities_per_10kb",
)  # fmt: skip
TARGETS = "seed gold: fact recall >= 0.70, typed fact recall >= 0.50, RELATED_TO share <= 0.25, "
TARGETS += "entities per 10 KB at most half of the 2026-12-01 spaCy-only baseline."


def kg(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KG_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def run_one(
    name: str, extract_args: list[str], seeds: Path, label: str = "default"
) -> dict[str, Any]:
    corpus, gold = CORPORA[name]
    corpus = seeds if name == "seeds" else corpus
    if not corpus.is_dir():
        return {"corpus": name, "skipped": f"{corpus} not present"}
    with tempfile.TemporaryDirectory(prefix=f"kg-graph-{name}-") as tmp:
        ws = Path(tmp) / ".kg"
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = kg("extract", str(corpus), "--spacy-only", *extract_args, workspace=ws)
        extract_s = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"kg extract failed on {name}: {proc.stderr.strip()[-2000:]}")
        t1 = time.perf_counter()
        proc = kg("eval", "graph", str(gold), "--json", workspace=ws)
        eval_s = time.perf_counter() - t1
        if proc.returncode != 0:
            raise SystemExit(f"kg eval graph failed on {name}: {proc.stderr.strip()[-2000:]}")
        result = json.loads(proc.stdout)
    return {
        "corpus": name,
        "run": label,
        "extract": f"--spacy-only {' '.join(extract_args)}".strip(),
        "extract_seconds": round(extract_s, 2),
        "eval_seconds": round(eval_s, 2),
        "load_avg_1m_start": round(load0, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        **{k: result[k] for k in METRICS},
        "by_file": result["by_file"],
        "missed": [_missed(r) for r in result["rows"] if not r["typed"]],
    }


def _missed(row: dict[str, Any]) -> str:
    fact = f"{row['head']} {row['relation']} {row['tail']}"
    return f"{fact} (edge: {','.join(row['edge_types'])})" if row["found"] else fact


def table(runs: list[dict[str, Any]]) -> str:
    cols = ["corpus", "run", *METRICS, "extract_seconds", "eval_seconds", "load_avg_1m_start"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for run in runs:
        if "skipped" in run:
            lines.append(f"| {run['corpus']} | skipped: {run['skipped']} |")
            continue
        lines.append("| " + " | ".join(str(run.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def write(out: dict[str, Any], results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "graph.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    parts = [
        "# kg eval graph benchmark",
        "",
        f"Machine: {out['machine']}, CPU only (shared); measured {out['date']}; "
        f"kg commit {out['commit'] or 'unknown'}.",
        "",
        table(out["runs"]),
        "",
        f"Targets: {TARGETS}",
        "",
        "Recalls are shares of the gold facts (an edge between the matched entities in either "
        "direction, of any type / of the gold type); names match by normalised name, alias, "
        "canonical form, acronym or one-typo whole-word fuzzy rule, among the entities mentioned "
        "in the fact's own file. Entities per 10 KB count every entity per 10,000 characters.",
        "",
        *(f"- {note}" for note in out.get("notes", [])),
        "",
    ]
    for run in out["runs"]:
        if "by_file" not in run:
            continue
        parts += [f"## {run['corpus']} ({run.get('run', '')}): per file", "",
                  "| file | facts | fact recall | typed |",
                  "|---|---|---|---|"]  # fmt: skip
        for file, s in run["by_file"].items():
            parts.append(
                f"| {file} | {s['facts']} | {s['fact_recall']} | {s['typed_fact_recall']} |"
            )
        parts.append("")
    (results / "graph.md").write_text("\n".join(parts), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CORPORA), action="append")
    parser.add_argument("--extract-args", default="", help="Extra `kg extract` arguments.")
    parser.add_argument(
        "--run", action="append", default=[], metavar="LABEL=ARGS",
        help="A labelled configuration (extra `kg extract` arguments); repeat to compare several "
        "in one run, e.g. --run 'spaCy rules=--no-trained --cooccurrence' --run 'trained='.",
    )
    parser.add_argument("--seeds", type=Path, default=SEEDS, help="The seed corpus folder.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where to write results.")
    parser.add_argument("--commit", default="", help="The commit measured (for an export).")
    parser.add_argument("--note", action="append", default=[], help="A line for the notes.")
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    configs = [tuple(r.split("=", 1)) for r in args.run] or [("default", args.extract_args)]
    runs = [
        run_one(name, shlex.split(extra), args.seeds, label)
        for label, extra in configs
        for name in (args.only or list(CORPORA))
    ]
    commit = (
        args.commit
        or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    )
    out = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "runs": runs,
        "notes": args.note,
    }
    print(table(runs))
    if not args.no_write:
        write(out, args.results)
        print(f"wrote {args.results / 'graph.md'} and graph.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
