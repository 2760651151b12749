"""Chunk vectors on disk (float32 .npy + the chunk ids they belong to), embedded incrementally."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kg.workspace import atomic_write_text


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
    out = np.zeros((len(ids), 384), dtype=np.float32)
    if missing:
        new = embedder.embed([texts[i] for i in missing])
        out = np.zeros((len(ids), new.shape[1]), dtype=np.float32)
        for row, i in enumerate(missing):
            out[i] = new[row]
    for i, cid in enumerate(ids):
        if cid in known:
            out[i] = known[cid]
    stale = len(known) != len(ids) or bool(missing)
    if folder and meta_path and stale:
        folder.mkdir(parents=True, exist_ok=True)
        _save_npy(folder / "vectors.npy", out)
        atomic_write_text(meta_path, json.dumps({"model": embedder.model_id, "ids": list(ids)}))
    return out, len(missing)
