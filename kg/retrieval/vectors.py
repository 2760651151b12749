"""Chunk vectors on disk (float32 .npy + the chunk ids they belong to), embedded incrementally."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kg.workspace import atomic_write_text

CHECKPOINT = 500  # chunks embedded between saves


def _save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)


def load_vectors(
    ids: Sequence[str], texts: Sequence[str], folder: Path | None, embedder
) -> tuple[np.ndarray, int]:
    """Vectors for ``ids`` in that order, reusing saved rows; returns (matrix, newly embedded)."""
    known: dict[str, np.ndarray] = {}
    meta_path = folder / "vectors.json" if folder else None
    if folder and meta_path and meta_path.is_file() and (folder / "vectors.npy").is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("model") == embedder.model_id:
                arr = np.load(folder / "vectors.npy")
                if len(arr) == len(meta["ids"]):
                    known = dict(zip(meta["ids"], arr, strict=True))
        except (OSError, ValueError, KeyError):
            known = {}
    missing = [i for i, cid in enumerate(ids) if cid not in known]
    for s in range(0, len(missing), CHECKPOINT):
        block = missing[s : s + CHECKPOINT]
        new = embedder.embed([texts[i] for i in block])
        known.update((ids[i], new[row]) for row, i in enumerate(block))
        if folder and s + CHECKPOINT < len(missing):  # an interrupted build resumes from here
            _write(folder, embedder.model_id, list(known), np.stack(list(known.values())))
    dim = len(next(iter(known.values()))) if known else 384
    out = np.zeros((len(ids), dim), dtype=np.float32)
    for i, cid in enumerate(ids):
        out[i] = known[cid]
    if folder and (missing or len(known) != len(ids)):
        _write(folder, embedder.model_id, list(ids), out)
    return out, len(missing)


def _write(folder: Path, model: str, ids: list[str], arr: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _save_npy(folder / "vectors.npy", arr.astype(np.float32))
    atomic_write_text(folder / "vectors.json", json.dumps({"model": model, "ids": ids}))
