"""Structure rules alone: what tables, headings and lists yield per file, and the gold they find.

Runs `extract_structure` (no model) over the seed corpus and examples/notes, counts entities and
relations per file and per rule, scores the structure-only graph with `kg eval graph`'s scorer
against the hand-made golds, and prints a sample of relations to judge by eye. Writes
bench/results/structure.json (the judged precision lives in bench/results/structure.md).

    nice -n 10 .venv/bin/python bench/structure.py [--sample 30] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.chunking import chunk_document  # noqa: E402
from kg.models import Document, Manifest  # noqa: E402
from kg.ontology import load_ontology  # noqa: E402
from kg.workspace import Workspace  # noqa: E402
from pipelines.evaluation.graph import evaluate_graph, load_gold  # noqa: E402
from pipelines.extraction.assembly import assemble  # noqa: E402
from pipelines.extraction.structure import extract_structure  # noqa: E402

CORPORA = {
    "seeds": (ROOT.parent / "shared" / "corpus" / "seeds", ROOT / "bench" / "seeds_graph.jsonl"),
    "notes": (ROOT / "examples" / "notes", ROOT / "examples" / "notes_graph.jsonl"),
}


def run(name: str, folder: Path, gold_path: Path, sample: int, rng: random.Random) -> dict:
    onto = load_ontology("default")
    docs, results, per_file = [], [], {}
    t0 = time.perf_counter()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        doc = Document.from_text(path.name, path.read_text(encoding="utf-8"))
        out = extract_structure(doc, chunk_document(doc), onto)
        ents = {e.id: e for r in out.values() for e in r.entities}
        rels = [rs.relation for r in out.values() for rs in r.relations]
        per_file[path.name] = {
            "entities": len(ents),
            "entities_by_rule": dict(Counter(e.source for e in ents.values())),
            "relations": len(rels),
            "relations_by_rule": dict(Counter(f"{r.extractor}:{r.type}" for r in rels)),
        }
        docs.append(doc)
        results.extend(out.values())
    seconds = time.perf_counter() - t0
    entities, relations, _ = assemble(results, onto.fallback_entity_type)
    names = {e.id: e.name for e in entities}
    picked = rng.sample(relations, min(sample, len(relations)))
    for rel in picked:
        ev = rel.evidence[0].text.replace("\n", " ")[:100]
        fact = f"{names[rel.head_id]} -{rel.type}-> {names[rel.tail_id]}"
        print(f"  [{rel.extractor}] {fact}  | {ev}")
    score = None
    if gold_path.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace(tmp)
            ws.write("documents", docs)
            ws.write("entities", entities)
            ws.write("relations", relations)
            ws.write_manifest(Manifest(kg_version="bench", created_at="-", ontology="default"))
            res = evaluate_graph(ws, load_gold(gold_path), gold_name=gold_path.name)
            for row in res.rows:
                if row.head_match or row.tail_match:
                    mark = "found" if row.found else "missed"
                    print(f"  gold {mark}: {row.head} -{row.relation}-> {row.tail}"
                          f"  (matched {row.head_match!r}, {row.tail_match!r})")
            score = {
                k: getattr(res, k)
                for k in ("facts", "fact_recall", "typed_fact_recall", "entity_recall",
                          "typed_entity_recall", "entities", "relations")
            }
    return {"corpus": name, "seconds": round(seconds, 2), "files": per_file, "gold": score}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "structure.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    report = []
    for name, (folder, gold) in CORPORA.items():
        print(f"{name}: sample of relations")
        report.append(run(name, folder, gold, args.sample, rng))
    print(json.dumps(report, indent=2))
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
