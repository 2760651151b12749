"""General-text benchmark: does kg's default pipeline find the facts encyclopedia text states?

``bench/general_text.jsonl`` holds 20 paragraphs written for this benchmark (history, geography,
biology, companies, people, technology ...), each with its stated facts (subject, relation
words, object). Every paragraph becomes one file; ``kg extract``'s default path (``--llm off``)
runs over them, and a fact counts as found when an edge of any type joins an entity matching its
subject and one matching its object (either direction), with the name rules of
``kg eval graph`` (pipelines/evaluation/names.py) among the entities of that paragraph. The same
run also extracts with the four language stages off (issue 21's baseline). Writes
bench/results/general.md and general.json.

    nice -n 10 .venv/bin/python bench/general.py
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "general_text.jsonl"
RESULTS = ROOT / "bench" / "results"
FLAGS = ("relation_cues", "open_relations", "notes_types", "coreference")
TARGET = 0.60


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def gold_facts(rows: list[dict[str, Any]]) -> list[Any]:
    from pipelines.evaluation.graph import GoldFact

    return [
        GoldFact(file=f"{r['id']}.md", head=f["subject"], head_type="Concept",
                 relation="STATES", tail=f["object"], tail_type="Concept",
                 evidence=f["relation"])
        for r in rows for f in r["facts"]
    ]  # fmt: skip


def run(rows: list[dict[str, Any]], label: str, **flags: bool) -> dict[str, Any]:
    from kg.config import Settings
    from kg.workspace import Workspace
    from pipelines.evaluation.graph import evaluate_graph
    from pipelines.extraction.pipeline import run_extract

    with tempfile.TemporaryDirectory(prefix="kg-general-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for r in rows:
            (corpus / f"{r['id']}.md").write_text(r["text"] + "\n", encoding="utf-8")
        settings = Settings.from_env(workspace=Path(tmp) / ".kg", llm_mode="off", **flags)
        ws = Workspace(settings.workspace)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        run_extract([corpus], ws, settings, spacy_only=True, progress=False)
        seconds = time.perf_counter() - t0
        result = evaluate_graph(ws, gold_facts(rows), gold_name=DATA.name)
        docs = {Path(d.path).stem: d.id for d in ws.read("documents")}
        entities, relations = ws.read("entities"), ws.read("relations")
    per: dict[str, dict[str, Any]] = {}
    for r in rows:
        doc = docs.get(r["id"])
        mine = [x for x in result.rows if x.file == f"{r['id']}.md"]
        per[r["id"]] = {
            "domain": r["domain"],
            "facts": len(mine),
            "found": sum(x.found for x in mine),
            "entities": sum(any(m.doc_id == doc for m in e.mentions) for e in entities),
            "edges": sum(any(ev.doc_id == doc for ev in rel.evidence) for rel in relations),
        }
    n = len(per) or 1
    return {
        "run": label,
        "flags": flags,
        "facts": result.facts,
        "found_share": result.fact_recall,
        "entities_per_paragraph": round(sum(p["entities"] for p in per.values()) / n, 1),
        "edges_per_paragraph": round(sum(p["edges"] for p in per.values()) / n, 1),
        "extract_seconds": round(seconds, 2),
        "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "paragraphs": per,
        "missed": [
            f"{x.head} — {x.tail} (head→{x.head_match}, tail→{x.tail_match})"
            for x in result.rows
            if not x.found
        ],
    }


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# General text: stated facts found as an edge (bench/general.py)",
        "",
        f"{runs[0]['facts']} facts in 20 encyclopedia-style paragraphs (bench/general_text.jsonl);"
        f" a fact is found when an edge joins its subject and object. Target ≥ {TARGET:.0%}.",
        "",
        "| run | facts found | entities / paragraph | edges / paragraph | extract s | load avg |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['run']} | {r['found_share']:.1%} | {r['entities_per_paragraph']} | "
            f"{r['edges_per_paragraph']} | {r['extract_seconds']} | "
            f"{r['load_avg_1m'][0]}–{r['load_avg_1m'][1]} |"
        )
    best = runs[0]
    lines += ["", f"## Per paragraph ({best['run']})", ""]
    lines += [
        "| paragraph | domain | found / facts | entities | edges |",
        "|---|---|---:|---:|---:|",
    ]
    for pid, p in best["paragraphs"].items():
        lines.append(f"| {pid} | {p['domain']} | {p['found']} / {p['facts']} | {p['entities']} | "
                     f"{p['edges']} |")  # fmt: skip
    lines += ["", f"## Missed ({best['run']})", ""] + [f"- {m}" for m in best["missed"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-baseline", action="store_true", help="skip the language-off run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = load()
    runs = [run(rows, "default (language stages on)")]
    if not args.no_baseline:
        runs.append(run(rows, "language stages off", **dict.fromkeys(FLAGS, False)))
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "general.json").write_text(json.dumps(runs, indent=2) + "\n")
    text = markdown(runs)
    (args.results / "general.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
