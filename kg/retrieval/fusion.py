"""Combining ranked lists: reciprocal rank fusion and a convex mix of min-max-normalised scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

RRF_K = 60


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores, best first; ties go to the lower index (stable)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


def minmax(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Scores scaled to [0, 1] over the candidate set; everything else 0."""
    out = np.zeros_like(scores, dtype=np.float64)
    if len(candidates) == 0:
        return out
    vals = scores[candidates]
    lo, hi = float(vals.min()), float(vals.max())
    out[candidates] = (vals - lo) / (hi - lo) if hi > lo else (vals > 0).astype(np.float64)
    return out


def convex(
    scores: Mapping[str, np.ndarray], weights: Mapping[str, float], depth: int = 100
) -> np.ndarray:
    """Weighted sum of min-max-normalised scores over the union of each list's top ``depth``."""
    n = len(next(iter(scores.values())))
    tops = {name: top_k(s, depth) for name, s in scores.items()}
    total = np.zeros(n, dtype=np.float64)
    for name, s in scores.items():
        total += weights.get(name, 0.0) * minmax(s, tops[name])
    return total


def rrf(scores: Mapping[str, np.ndarray], depth: int = 100, k: int = RRF_K) -> np.ndarray:
    """Reciprocal rank fusion: sum of 1/(k + rank) over each list's top ``depth``."""
    n = len(next(iter(scores.values())))
    total = np.zeros(n, dtype=np.float64)
    for s in scores.values():
        idx = top_k(s, depth)
        idx = idx[s[idx] > 0] if s.min() >= 0 else idx
        total[idx] += 1.0 / (k + 1 + np.arange(len(idx)))
    return total
