"""Graph-quality benchmark: the extraction ladder side by side on the hand-made golds.

One run, cumulative rows (each turns on one more Settings flag, those that exist in this build):
trained tier alone; + relation cues; + self-training; + open relations; + notes types;
+ coreference. Each row extracts the corpus (no LLM) into a fresh workspace and scores it with
`kg eval graph`: the seed corpus (gold bench/seeds_graph.jsonl, also split into facts stated in
prose and by layout) and examples/notes (gold examples/notes_graph.jsonl); SciERC dev scores the
trained tier once (`kg eval scierc --tier trained`). Writes bench/results/graph.md and graph.json
with wall times and the load average.

Timing: a first extraction with every flag off runs cold (its time is the baseline); the rows
then start from a copy of its per-chunk caches (spaCy, trained tier and its pair features), so a
row's time is what its own stages and corpus passes cost on top of cached parsing; the added
share is (row - warm baseline) / cold baseline.

    nice -n 10 .venv/bin/python bench/graph.py --seeds /work/shared/corpus/seeds
    .venv/bin/python bench/graph.py --only notes --no-scierc
    .venv/bin/python bench/graph.py --run "spaCy rules=--no-trained --cooccurrence"   # old mode

To measure a committed state while the working tree is busy, run it from an export of that commit
(`git archive HEAD | tar -x -C DIR`) with `--seeds` and `--results` pointing back here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
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


SCIERC_DEV = ROOT.parent / "shared" / "eval" / "scierc" / "dev.jsonl"
# the ladder: (row label, the Settings flag it turns on); rows are cumulative
LADDER = (
    ("+ relation cues", "relation_cues"),
    ("+ self-training", "self_train"),
    ("+ open relations", "open_relations"),
    ("+ notes types", "notes_types"),
    ("+ coreference", "coreference"),
)
BASE = "trained tier alone"
# a child process per extraction, so that no row inherits a loaded model or warm imports
_CHILD = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from kg.config import Settings\n"
    "from kg.workspace import Workspace\n"
    "from pipelines.extraction.pipeline import run_extract\n"
    "a = json.loads(sys.argv[1])\n"
    "s = Settings.from_env(workspace=Path(a['ws']), llm_mode='off', **a['flags'])\n"
    "m = run_extract([Path(a['corpus'])], Workspace(s.workspace), s, spacy_only=True,"
    " progress=False)\n"
    "print(json.dumps({'seconds': m.seconds, 'self_train': m.self_train}))\n"
)


def known_flags() -> set[str]:
    """The ladder's Settings flags this build has (rows for the others are left out)."""
    from kg.config import Settings

    return {flag for _, flag in LADDER if flag in Settings.model_fields}


def ladder_rows(flags: set[str]) -> list[tuple[str, dict[str, bool], str | None]]:
    """(label, flag values, why skipped) per row: each row turns one more flag on."""
    on: set[str] = set()
    rows = [(BASE, {f: False for f in flags}, None)]
    for label, flag in LADDER:
        if flag not in flags:
            rows.append((label, {}, f"Settings has no `{flag}` in this build"))
            continue
        on.add(flag)
        rows.append((label, {f: f in on for f in flags}, None))
    return rows


def extract_child(corpus: Path, ws: Path, flags: dict[str, bool]) -> dict[str, Any]:
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    arg = json.dumps({"corpus": str(corpus), "ws": str(ws), "flags": flags})
    proc = subprocess.run([sys.executable, "-c", _CHILD, arg], capture_output=True, text=True,
                          env=env, cwd=ROOT)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"extract failed on {corpus}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def score(ws: Path, gold: Path) -> dict[str, Any]:
    proc = kg("eval", "graph", str(gold), "--json", workspace=ws)
    if proc.returncode != 0:
        raise SystemExit(f"kg eval graph failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def where_recall(result: dict[str, Any], gold: Path) -> dict[str, Any]:
    """Fact / typed recall of the facts stated in prose and of those stated by layout."""
    facts = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line]
    out: dict[str, Any] = {}
    for where in ("prose", "structure"):
        rows = [r for f, r in zip(facts, result["rows"], strict=True) if f.get("where") == where]
        if rows:
            out[f"{where}_facts"] = len(rows)
            out[f"{where}_fact_recall"] = round(sum(r["found"] for r in rows) / len(rows), 4)
            out[f"{where}_typed_recall"] = round(sum(r["typed"] for r in rows) / len(rows), 4)
    return out


def run_ladder(name: str, seeds: Path) -> list[dict[str, Any]]:
    """Every ladder row on one corpus, from a cold baseline's caches."""
    corpus, gold = CORPORA[name]
    corpus = seeds if name == "seeds" else corpus
    if not corpus.is_dir():
        return [{"corpus": name, "skipped": f"{corpus} not present"}]
    flags = known_flags()
    rows = ladder_rows(flags)
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"kg-ladder-{name}-") as tmp:
        cold_ws = Path(tmp) / "cold" / ".kg"
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        extract_child(corpus, cold_ws, rows[0][1])
        cold = time.perf_counter() - t0
        warm_base: float | None = None
        for label, values, skipped in rows:
            if skipped:
                out.append({"corpus": name, "run": label, "skipped": skipped})
                continue
            ws = Path(tmp) / f"row{len(out)}" / ".kg"
            ws.mkdir(parents=True)
            shutil.copytree(cold_ws / "cache", ws / "cache")
            load = os.getloadavg()[0]
            t1 = time.perf_counter()
            child = extract_child(corpus, ws, values)
            seconds = time.perf_counter() - t1
            warm_base = seconds if warm_base is None else warm_base
            result = score(ws, gold)
            edges = edges_by_extractor(ws)
            out.append({
                "corpus": name, "run": label,
                "flags": ",".join(sorted(f for f, v in values.items() if v)) or "-",
                **{k: result[k] for k in METRICS},
                **where_recall(result, gold),
                "extract_seconds": round(seconds, 2),
                "cold_extract_seconds": round(cold, 2),
                "added_share": round((seconds - warm_base) / cold, 3) if cold else None,
                "load_avg_1m_start": round(load, 2),
                "self_train": child.get("self_train") or {},
                "extractors": {k: len(v) for k, v in sorted(edges.items())},
                "edges": edges,
                "by_file": result["by_file"],
                "missed": [_missed(r) for r in result["rows"] if not r["typed"]],
            })  # fmt: skip
        out[0]["cold_load_avg_1m_start"] = round(load0, 2)
    return out


def edges_by_extractor(ws: Path) -> dict[str, list[dict[str, Any]]]:
    """A row's relations by extractor, with names and evidence (new kinds are listed to judge)."""
    names = {}
    for line in (ws / "entities.jsonl").read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        names[e["id"]] = f"{e['name']} ({e['type']})"
    out: dict[str, list[dict[str, Any]]] = {}
    for line in (ws / "relations.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        ev = r["evidence"][0]["text"] if r["evidence"] else ""
        out.setdefault(r["extractor"], []).append({
            "head": names.get(r["head_id"], r["head_id"]), "type": r["type"],
            "tail": names.get(r["tail_id"], r["tail_id"]), "confidence": r["confidence"],
            "evidence": " ".join(ev.split())[:200],
        })  # fmt: skip
    return out


def new_edges(runs: list[dict[str, Any]], sample: int = 50) -> list[str]:
    """Edges of extractors the first row of a corpus did not have: a fixed sample to judge."""
    import random

    lines: list[str] = []
    base: dict[str, set[str]] = {}
    for run in runs:
        if "edges" not in run:
            continue
        known = base.setdefault(run["corpus"], set(run["edges"]))
        for extractor, edges in run["edges"].items():
            if extractor in known:
                continue
            known.add(extractor)
            picked = random.Random(0).sample(edges, min(sample, len(edges)))
            lines += [
                f"### {run['corpus']}: `{extractor}` edges ({len(edges)}, first shown in "
                f"{run['run']}; {len(picked)} sampled)",
                "",
                "| head | type | tail | confidence | evidence |",
                "|---|---|---|---|---|",
            ]
            for e in picked:
                cells = [e["head"], e["type"], e["tail"], str(e["confidence"]), e["evidence"]]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines.append("")
    return lines


def run_scierc(dev: Path = SCIERC_DEV) -> dict[str, Any]:
    if not dev.is_file():
        return {"skipped": f"{dev} not present"}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = kg("eval", "scierc", str(dev), "--tier", "trained", "--json",
              workspace=Path(tempfile.gettempdir()) / "kg-scierc-unused")  # fmt: skip
    if proc.returncode != 0:
        return {"skipped": f"kg eval scierc failed: {proc.stderr.strip()[-500:]}"}
    result = json.loads(proc.stdout)
    result["seconds_wall"] = round(time.perf_counter() - t0, 2)
    result["load_avg_1m_start"] = round(load, 2)
    return result


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


LADDER_COLS = (
    ("corpus", "corpus"), ("run", "run"), ("fact_recall", "fact recall"),
    ("typed_fact_recall", "typed"), ("prose_fact_recall", "prose"),
    ("prose_typed_recall", "prose typed"), ("structure_fact_recall", "layout"),
    ("structure_typed_recall", "layout typed"), ("typed_entity_recall", "typed entities"),
    ("relations", "relations"), ("entities_per_10kb", "entities / 10 KB"),
    ("extract_seconds", "extract s"), ("added_share", "added share of cold"),
)  # fmt: skip


def _self_train_cell(run: dict[str, Any]) -> str:
    st = run.get("self_train") or {}
    if not st:
        return "off"
    if st.get("state") == "skipped":
        return f"skipped ({st.get('reason', '')})"
    held = st.get("held_out") or {}
    return (f"{st.get('positives')} pos / {st.get('negatives')} neg, held-out P "
            f"{held.get('precision')} R {held.get('recall')}, {st.get('edges')} edges")  # fmt: skip


def ladder_table(runs: list[dict[str, Any]]) -> str:
    heads = [h for _, h in LADDER_COLS] + ["self-training"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for run in runs:
        if "skipped" in run:
            lines.append(f"| {run['corpus']} | {run.get('run', '')} | skipped: {run['skipped']} |")
            continue
        cells = [str(run.get(k, "")) for k, _ in LADDER_COLS] + [_self_train_cell(run)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scierc_line(sc: dict[str, Any]) -> str:
    if "skipped" in sc:
        return f"SciERC dev: skipped ({sc['skipped']})."
    ent, rel = sc.get("entity_f1"), sc.get("rel_f1")
    return (f"SciERC dev, trained tier (`kg eval scierc dev.jsonl --tier trained`): entity F1 "
            f"**{ent}**, Rel F1 **{rel}** (floor 58.0 / 29.7), {sc.get('seconds_wall')} s at "
            f"load {sc.get('load_avg_1m_start')}.")  # fmt: skip


def write_ladder(out: dict[str, Any], results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "graph.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    runs = out["runs"]
    parts = [
        "# kg graph benchmark: the extraction ladder",
        "",
        f"Machine: {out['machine']}, CPU only (shared); measured {out['date']}; "
        f"kg commit {out['commit'] or 'unknown'}. No LLM (`--llm off`).",
        "",
        ladder_table(runs),
        "",
        scierc_line(out.get("scierc", {})),
        "",
        "Rows are cumulative: each turns on one more Settings flag (rows whose flag this build "
        "lacks say so). Recalls are shares of the gold facts (an edge between the matched "
        "entities in either direction, of any type / of the gold type); *prose* / *layout* "
        "split the seed gold by how the note states the fact (`where`). *extract s* starts from "
        "the per-chunk caches of a cold run with every flag off; *added share of cold* is "
        "(row - first row) / that cold run's time: "
        + ", ".join(f"{r['corpus']} cold {r.get('cold_extract_seconds')} s at load "
                    f"{r.get('cold_load_avg_1m_start')}" for r in runs
                    if "cold_load_avg_1m_start" in r)
        + ". Load average (1 min) at each row's start is in graph.json.",
        "",
        *(f"- {note}" for note in out.get("notes", [])),
        "",
        "## New edges (extractors the first row lacks), to judge by hand",
        "",
        *new_edges(runs),
    ]
    for run in runs:
        if "by_file" not in run:
            continue
        parts += [f"## {run['corpus']} ({run['run']}): per file", "",
                  "| file | facts | fact recall | typed |", "|---|---|---|---|"]  # fmt: skip
        for file, sc in run["by_file"].items():
            parts.append(
                f"| {file} | {sc['facts']} | {sc['fact_recall']} | {sc['typed_fact_recall']} |"
            )
        parts.append("")
    (results / "graph.md").write_text("\n".join(parts), encoding="utf-8")


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
    parser.add_argument("--no-scierc", action="store_true", help="Skip SciERC dev.")
    parser.add_argument("--scierc", type=Path, default=SCIERC_DEV, help="SciERC dev.jsonl.")
    args = parser.parse_args()
    commit = (
        args.commit
        or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    )
    out: dict[str, Any] = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "notes": args.note,
    }
    if args.run:  # labelled `kg extract` configurations (the earlier mode)
        configs = [tuple(r.split("=", 1)) for r in args.run]
        out["runs"] = [
            run_one(name, shlex.split(extra), args.seeds, label)
            for label, extra in configs
            for name in (args.only or list(CORPORA))
        ]
        print(table(out["runs"]))
        if not args.no_write:
            write(out, args.results)
        return 0
    out["runs"] = [r for name in (args.only or list(CORPORA)) for r in run_ladder(name, args.seeds)]
    out["scierc"] = {} if args.no_scierc else run_scierc(args.scierc)
    print(ladder_table(out["runs"]))
    print(scierc_line(out["scierc"]) if out["scierc"] else "")
    if not args.no_write:
        write_ladder(out, args.results)
        print(f"wrote {args.results / 'graph.md'} and graph.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
