"""The benchmark corpora's graph view: the old spaCy-only entity pass against kg extract's stage.

Issue 20 routes BEIR and 2Wiki through ``kg extract``'s own spaCy stage
(``pipelines/evaluation/corpus_entities.py``) instead of the separate NER + noun-chunk pass
(``kg/retrieval/spacy_entities.py`` before it was removed, read here from git). Both run on the
same sub-corpus in the same process: 2Wiki's first questions, their gold passages plus the first
passages up to ``--docs`` (the whole corpus takes ~20 min a pass on the shared 2 cores).

Usage: nice .venv/bin/python bench/eval_entities.py [--questions 60] [--docs 1000]
Writes bench/results/eval_entities.md and .json with the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("KG_EVAL_DIR") or ROOT.parent / "shared" / "eval")
RESULTS = ROOT / "bench" / "results"
OLD_COMMIT = "fb780b6"  # the last commit with kg/retrieval/spacy_entities.py

import numpy as np  # noqa: E402

from kg.retrieval import fusion as fusion_mod  # noqa: E402
from kg.retrieval.corpus import corpus_retriever  # noqa: E402
from pipelines.evaluation.corpus_entities import corpus_entities  # noqa: E402
from pipelines.evaluation.metrics import all_gold_at_k, recall_at_k  # noqa: E402
from pipelines.evaluation.twowiki import load_2wiki  # noqa: E402


def _old_pass():
    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:kg/retrieval/spacy_entities.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_spacy_entities.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_spacy_entities", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda chunks, folder, titles: module.build_entities(chunks, titles)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--docs", type=int, default=1000)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    corpus, questions = load_2wiki(SHARED / "2wiki")
    questions = questions[: args.questions]
    gold = sorted({int(i) for q in questions for i in q["gold_corpus_idx"]})
    rest = [i for i in range(len(corpus)) if i not in set(gold)]
    keep = sorted(gold + rest[: max(0, args.docs - len(gold))])
    where = {old: new for new, old in enumerate(keep)}
    passages = [(f"p{i}", corpus[i]["title"], corpus[i]["text"]) for i in keep]
    out: dict = {"docs": len(passages), "questions": len(questions), "load_avg_start": load0}
    passes = (("old spaCy-only pass", _old_pass()), ("kg extract's spaCy stage", corpus_entities))
    for name, find in passes:
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            r = corpus_retriever(f"2wiki-sub-{len(passages)}", passages, "graph",
                                 cache_dir=Path(cache), titles_as_entities=True, find_entities=find)
            built = time.perf_counter() - t
            row = {"entities": len(r._entities), "build_s": round(built, 1)}
            for mode in ("graph", "bm25"):
                rec2, rec5, all5 = [], [], []
                for q in questions:
                    g = {where[int(i)] for i in q["gold_corpus_idx"]}
                    scores = r.scores(q["question"], mode)["score"]
                    ranked = [int(i) for i in fusion_mod.top_k(scores, 5)]
                    rec2.append(recall_at_k(g, ranked, 2))
                    rec5.append(recall_at_k(g, ranked, 5))
                    all5.append(all_gold_at_k(g, ranked, 5))
                row[mode] = {"recall@2": round(float(np.mean(rec2)), 4),
                             "recall@5": round(float(np.mean(rec5)), 4),
                             "all_gold@5": round(float(np.mean(all5)), 4)}
            out[name] = row
    out["load_avg_end"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "eval_entities.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    lines = [f"# 2Wiki graph view: entity passes ({out['docs']} passages, {out['questions']} "
             f"questions; load {load0:.1f} -> {out['load_avg_end']:.1f})", "",
             "| entities from | entities | build s | graph R@2 | graph R@5 | graph all@5 | "
             "bm25 R@5 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("old spaCy-only pass", "kg extract's spaCy stage"):
        r = out[name]
        g = r["graph"]
        lines.append(f"| {name} | {r['entities']} | {r['build_s']} | {g['recall@2']} | "
                     f"{g['recall@5']} | {g['all_gold@5']} | {r['bm25']['recall@5']} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "eval_entities.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
