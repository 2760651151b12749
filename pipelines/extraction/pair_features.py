"""The trained tier's pair features per chunk: what the per-corpus relation head learns from.

For every ordered pair of spans the shipped model found in a segment, the pair classifier's
hidden layer (256 numbers) is kept with the two spans and the segment, in document offsets. They
are stored next to the trained tier's per-chunk cache (float16, base64 in the JSON entry), so the
self-training pass (self_train.py) never runs the encoder again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kg.llm_cache import cache_key

VERSION = "pairs-v1"


@dataclass
class PairFeatures:
    """One chunk's pairs: ``spans`` rows are (head start, head end, tail start, tail end,
    segment start, segment end) in document offsets; ``x`` the matching feature rows."""

    chunk_id: str
    spans: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def add(self, spans: list[tuple[int, int, int, int, int, int]], x: np.ndarray) -> None:
        if not spans:
            return
        x = np.asarray(x, np.float32)
        self.x = x if not self.spans else np.concatenate([self.x, x])
        self.spans.extend(spans)


def pair_key(model_version: str, chunk_id: str, text: str) -> str:
    """Features depend on the model and the chunk's text only (not on the ontology)."""
    return cache_key(VERSION, model_version, chunk_id, text)


def dump_pairs(p: PairFeatures) -> dict[str, Any]:
    x = np.ascontiguousarray(p.x, dtype=np.float16)
    return {
        "spans": [list(s) for s in p.spans],
        "dim": int(x.shape[1]) if x.ndim == 2 and x.size else 0,
        "x": base64.b64encode(x.tobytes()).decode("ascii"),
    }


def load_pairs(chunk_id: str, data: dict[str, Any]) -> PairFeatures:
    spans = [tuple(int(v) for v in s) for s in data["spans"]]
    dim = int(data["dim"])
    raw = np.frombuffer(base64.b64decode(data["x"]), dtype=np.float16)
    x = raw.reshape(len(spans), dim).astype(np.float32) if spans and dim else np.zeros((0, 0))
    return PairFeatures(chunk_id, spans, x)  # type: ignore[arg-type]
