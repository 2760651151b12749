"""BEIR-format evaluation (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): nDCG@10, recall@100."""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from pathlib import Path

from kg.retrieval import fusion as fusion_mod
from kg.retrieval.retriever import FusionConfig
from pipelines.evaluation.metrics import latency_summary, ranked_run, trec_metrics


def load_beir(
    folder: Path, split: str
) -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """(corpus id -> (title, text), query id -> text, qrels) for the split's judged queries."""
    corpus: dict[str, tuple[str, str]] = {}
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                corpus[str(d["_id"])] = (d.get("title") or "", d.get("text") or "")
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        rows = csv.reader(fh, delimiter="\t")
        next(rows, None)
        for row in rows:
            if len(row) >= 3:
                qrels[row[0]][row[1]] = int(row[2])
    queries: dict[str, str] = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                q = json.loads(line)
                if str(q["_id"]) in qrels:
                    queries[str(q["_id"])] = q["text"]
    return corpus, queries, dict(qrels)


def evaluate_beir(
    folder: Path,
    split: str = "test",
    mode: str = "hybrid",
    limit: int | None = None,
    *,
    max_docs: int | None = None,
    cache_dir: Path | None = None,
    fusion: FusionConfig | None = None,
) -> dict:
    """Rank the corpus for each judged query; trec_eval nDCG@10 and recall@100 over the split.

    ``limit`` keeps the first N queries; ``max_docs`` keeps their judged documents plus the first
    documents of the corpus up to that many (a quick run for tests).
    """
    from kg.retrieval.corpus import corpus_retriever
    from pipelines.evaluation.corpus_entities import corpus_entities

    folder = Path(folder)
    corpus, queries, qrels = load_beir(folder, split)
    if limit is not None:
        keep = list(queries)[:limit]
        queries = {q: queries[q] for q in keep}
        qrels = {q: qrels[q] for q in keep}
    if max_docs is not None:
        judged = {d for rel in qrels.values() for d in rel}
        ids = [d for d in corpus if d in judged]
        ids += [d for d in corpus if d not in judged][: max(0, max_docs - len(ids))]
        corpus = {d: corpus[d] for d in ids}
    passages = [(d, t, x) for d, (t, x) in corpus.items()]
    name = f"beir-{folder.name}-{len(passages)}"
    r = corpus_retriever(
        name, passages, mode, cache_dir=cache_dir, fusion=fusion, find_entities=corpus_entities
    )
    run: dict[str, dict[str, float]] = {}
    took: list[float] = []
    for qid, text in queries.items():
        t = time.perf_counter()
        scores = r.scores(text, mode)["score"]
        top = fusion_mod.top_k(scores, 100)
        took.append(time.perf_counter() - t)
        run[qid] = ranked_run([r.chunks[int(i)].doc_id for i in top])
    result = {
        "dataset": folder.name,
        "split": split,
        "mode": mode,
        "queries": len(queries),
        "docs": len(passages),
        **{
            {"ndcg_cut.10": "ndcg@10", "recall.100": "recall@100"}[k]: v
            for k, v in trec_metrics(qrels, run).items()
        },
        **latency_summary(took),
        "build_s": {k: round(v, 3) for k, v in r.timings.items()},
    }
    return result
