"""Where the LLM tier's verification pays: precision of the trained tier's pairs by confidence.

Runs the shipped joint model over SciERC dev with a low candidate floor and counts, per
confidence bucket, how many predicted pairs are gold relations (exact spans and label). Pairs
at or above ``verify_prompt.SURE`` skip the LLM; those below go to it. Writes
bench/results/verify_threshold.md and .json.

    nice -n 10 .venv/bin/python bench/verify_threshold.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from kg.models import Chunk
from kg.ontology import load_ontology
from pipelines.evaluation.scierc import _read, gold_sets, predicted_sets
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.trained import TrainedTier
from pipelines.extraction.verify_prompt import SURE

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "eval" / "scierc" / "dev.jsonl"
FLOOR = 0.05


def main() -> None:
    rows = _read(DEV, None)
    ontology = load_ontology("scierc")
    tier = TrainedTier(ontology, pretokenized=True)
    tier.model.rel_threshold = FLOOR  # every pair scored >= FLOOR counts as predicted here
    chunks = [Chunk.make(r["id"], 0, 0, r["text"]) for r in rows]
    results = tier.extract(chunks)
    gold = gold_sets(rows)["rel"]
    buckets: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for row, chunk in zip(rows, chunks, strict=True):
        res = results[chunk.id]
        for rs in res.relations:
            one = ChunkResult(chunk=chunk, entities=res.entities, relations=[rs])
            hit = bool(predicted_sets(row["id"], row["text"], one, ontology)["rel"] & gold)
            lo = min(int(rs.relation.confidence * 10), 9) / 10
            buckets[lo][0] += 1
            buckets[lo][1] += hit
    table = [{"from": lo, "to": round(lo + 0.1, 1), "pairs": n, "gold": k,
              "precision": round(k / n, 3) if n else 0.0}
             for lo, (n, k) in sorted(buckets.items())]  # fmt: skip
    lines = ["# Trained-tier pair precision by confidence (SciERC dev, 50 abstracts)", "",
             f"Gold relations: {len(gold)}. Pairs >= {SURE} skip the LLM tier.", "",
             "| confidence | pairs | gold | precision |", "|---|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {r['from']:.1f}–{r['to']:.1f} | {r['pairs']} | {r['gold']} | {r['precision']} |"
              for r in table]  # fmt: skip
    out = ROOT / "bench" / "results"
    (out / "verify_threshold.json").write_text(json.dumps({"sure": SURE, "buckets": table},
                                                          indent=2) + "\n")  # fmt: skip
    (out / "verify_threshold.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
