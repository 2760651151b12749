"""Coreference benchmark: do "this course", "the book", "it", "she", "Chapter 6" reach their entity?

``bench/coref_gold.jsonl`` holds hand-labelled anaphors from examples/notes and the seed notes:
``{file, context, anaphor, antecedent}`` (``context`` an exact substring of the file, the anaphor
inside it). After ``kg extract``'s default path (``--llm off``), an anaphor is resolved when an
entity has a mention over it (the coreference stage adds one); it is right when that entity's
name is the antecedent (normalised, singular). Reports precision and recall; writes
bench/results/coref.md and coref.json.

    nice -n 10 .venv/bin/python bench/coref.py                 # extracts both corpora
    .venv/bin/python bench/coref.py --workspace A/.kg --workspace B/.kg   # scores workspaces
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
GOLD = ROOT / "bench" / "coref_gold.jsonl"
RESULTS = ROOT / "bench" / "results"
CORPORA = [ROOT / "examples" / "notes", ROOT.parent / "shared" / "corpus" / "seeds"]


def _key(name: str) -> str:
    from kg.models import normalize_name
    from kg.resolution import singular

    return " ".join(singular(w) for w in normalize_name(name).split())


def score(workspaces: list[Path], gold: list[dict[str, Any]]) -> dict[str, Any]:
    from kg.workspace import Workspace

    docs, mentions = {}, []
    for root in workspaces:
        ws = Workspace(root)
        docs.update({d.id: d for d in ws.read("documents")})
        mentions += [(m, e) for e in ws.read("entities") for m in e.mentions]
    rows = []
    for g in gold:
        doc = next((d for d in docs.values() if d.path.endswith(g["file"])), None)
        row = {**g, "predicted": None, "correct": False}
        if doc is not None and g["context"] in doc.text:
            start = doc.text.index(g["context"]) + g["context"].index(g["anaphor"])
            end = start + len(g["anaphor"])
            hits = [
                e for m, e in mentions if m.doc_id == doc.id and m.start < end and start < m.end
            ]
            if hits:
                row["predicted"] = hits[0].name
                row["correct"] = any(_key(e.name) == _key(g["antecedent"]) for e in hits)
        else:
            row["predicted"] = "(file not extracted)"
        rows.append(row)
    resolved = [r for r in rows if r["predicted"] and not r["predicted"].startswith("(")]
    correct = sum(r["correct"] for r in rows)
    return {
        "anaphors": len(rows),
        "resolved": len(resolved),
        "correct": correct,
        "precision": round(correct / len(resolved), 3) if resolved else 0.0,
        "recall": round(correct / len(rows), 3) if rows else 0.0,
        "rows": rows,
    }


def extract(corpus: Path, root: Path) -> Path:
    from kg.config import Settings
    from kg.workspace import Workspace
    from pipelines.extraction.pipeline import run_extract

    settings = Settings.from_env(workspace=root, llm_mode="off")
    run_extract([corpus], Workspace(root), settings, spacy_only=True, progress=False)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, action="append", default=[])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    gold = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kg-coref-") as tmp:
        workspaces = args.workspace or [
            extract(c, Path(tmp) / f"ws{i}") for i, c in enumerate(CORPORA) if c.is_dir()
        ]
        result = score(workspaces, gold)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_avg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "coref.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Coreference within a section (bench/coref.py)",
        "",
        f"{result['anaphors']} hand-labelled anaphors (bench/coref_gold.jsonl): "
        f"**precision {result['precision']:.0%}** ({result['correct']} of {result['resolved']} "
        f"resolved), **recall {result['recall']:.0%}**; load average "
        f"{result['load_avg_1m'][0]}–{result['load_avg_1m'][1]}.",
        "",
        "| file | anaphor | antecedent | resolved to | ok |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ok = "yes" if r["correct"] else "–"
        lines.append(f"| {r['file'][:24]} | {r['anaphor']} | {r['antecedent']} | "
                     f"{r['predicted'] or '–'} | {ok} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    (args.results / "coref.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
