"""A small real evaluation run: SciFact (20 queries, corpus subset) and 2Wiki, BM25 vs random."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipelines.evaluation import evaluate_2wiki, evaluate_beir
from pipelines.evaluation.beir import load_beir
from pipelines.evaluation.metrics import all_gold_at_k, ranked_run, recall_at_k, trec_metrics

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
pytestmark = pytest.mark.skipif(not (EVAL / "scifact").is_dir(), reason="no shared eval data")


def test_scifact_bm25_beats_random_ranking(tmp_path: Path) -> None:
    res = evaluate_beir(
        EVAL / "scifact", "train", "bm25", limit=20, max_docs=400, cache_dir=tmp_path
    )
    assert res["queries"] == 20 and res["docs"] == 400
    for key in ("ndcg@10", "recall@100"):
        assert 0.0 <= res[key] <= 1.0
    corpus, queries, qrels = load_beir(EVAL / "scifact", "train")
    keep = list(queries)[:20]
    qrels = {q: qrels[q] for q in keep}
    judged = {d for rel in qrels.values() for d in rel}
    docs = [d for d in corpus if d in judged]
    docs += [d for d in corpus if d not in judged][: 400 - len(docs)]
    rng = random.Random(0)
    rand_run = {q: ranked_run(rng.sample(docs, 100)) for q in keep}
    rand = trec_metrics(qrels, rand_run)
    assert res["ndcg@10"] > rand["ndcg_cut.10"] + 0.3
    assert res["latency_ms_p50"] > 0


def test_trec_metrics_follow_trec_eval_conventions() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}}
    perfect = trec_metrics(qrels, {"q1": ranked_run(["a"]), "q2": ranked_run(["b", "c"])})
    assert perfect["ndcg_cut.10"] == pytest.approx(1.0)
    # q2 retrieved nothing: it still counts, as 0 (trec_eval -c)
    half = trec_metrics(qrels, {"q1": ranked_run(["a"])})
    assert half["ndcg_cut.10"] == pytest.approx(0.5)
    second = trec_metrics({"q": {"a": 1}}, {"q": ranked_run(["x", "a"])})
    assert second["ndcg_cut.10"] == pytest.approx(1 / 1.5849625, rel=1e-5)


def test_passage_recall_definitions() -> None:
    assert recall_at_k({1, 2}, [2, 9, 1], 2) == 0.5
    assert all_gold_at_k({1, 2}, [2, 9, 1], 3) == 1.0
    assert all_gold_at_k({1, 2}, [2, 9, 1], 2) == 0.0


def test_2wiki_bm25_metrics_are_in_range(tmp_path: Path) -> None:
    res = evaluate_2wiki(EVAL / "2wiki", "bm25", limit=10, cache_dir=tmp_path)
    assert res["queries"] == 10
    assert 0.0 <= res["recall@2"] <= res["recall@5"] <= 1.0
    assert 0.0 <= res["all_gold@5"] <= res["recall@5"]
    assert res["recall@5"] > 0.3  # a random pick of 5 of 6,119 passages would be ~0.001


def test_beir_eval_never_re_encodes_a_corpus_it_has_seen(tmp_path: Path) -> None:
    first = evaluate_beir(
        EVAL / "scifact", "train", "vector", limit=2, max_docs=24, cache_dir=tmp_path
    )
    assert first["build_s"]["vector_embedded"] == 24
    # a smaller subset is a new corpus (its own index folder) over texts already encoded
    subset = evaluate_beir(
        EVAL / "scifact", "train", "vector", limit=2, max_docs=16, cache_dir=tmp_path
    )
    assert subset["build_s"]["vector_embedded"] == 0
    assert (tmp_path / "eval" / "beir-scifact-16").is_dir()
    assert list((tmp_path / "embeddings").glob("*/keys.txt"))
