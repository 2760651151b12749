"""Retrieval evaluation on public benchmarks (BEIR folders, HippoRAG's 2Wiki sample)."""

from pipelines.evaluation.beir import evaluate_beir
from pipelines.evaluation.twowiki import evaluate_2wiki

__all__ = ["evaluate_2wiki", "evaluate_beir"]
