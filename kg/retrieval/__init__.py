"""Hybrid retrieval over chunks: BM25, MiniLM vectors, entity-graph PPR, and their fusion."""

from kg.retrieval.retriever import SEARCH_MODES, FusionConfig, Retriever

__all__ = ["SEARCH_MODES", "FusionConfig", "Retriever"]
