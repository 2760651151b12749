"""Chunk vectors on disk (float32 .npy + the chunk ids they belong to), embedded incrementally.

Each dense view has its own file pair in the index folder (``vectors`` for MiniLM, ``vectors-e5``
for e5). Rows missing there come from the shared per-model ``EmbeddingCache`` when one is given
(keyed by text hash, so another corpus or index holding the same text reuses them), and only
texts found in neither are encoded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kg.retrieval.embed_cache import EmbeddingCache
from kg.workspace import atomic_write_text

CHECKPOINT = 500  # chunks embedded between saves


def _save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)


def _read(folder: Path | None, name: str, model: str) -> dict[str, np.ndarray]:
    if folder is None:
        return {}
    meta_path, npy = folder / f"{name}.json", folder / f"{name}.npy"
    if not (meta_path.is_file() and npy.is_file()):
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model") != model:
            return {}
        arr = np.load(npy)
        if len(arr) != len(meta["ids"]):
            return {}
        return dict(zip(meta["ids"], arr, strict=True))
    except (OSError, ValueError, KeyError):
        return {}


def load_vectors(
    ids: Sequence[str],
    texts: Sequence[str],
    folder: Path | None,
    embedder,
    *,
    name: str = "vectors",
    cache: EmbeddingCache | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``ids`` in that order, reusing saved rows; returns (matrix, newly embedded)."""
    model = embedder.model_id
    known = _read(folder, name, model)
    missing = [i for i, cid in enumerate(ids) if cid not in known]
    embedded = 0
    if missing and cache is not None:
        vecs, embedded = cache.get_or_encode([texts[i] for i in missing], embedder.embed)
        known.update((ids[i], vecs[row]) for row, i in enumerate(missing))
    else:
        for s in range(0, len(missing), CHECKPOINT):
            block = missing[s : s + CHECKPOINT]
            new = embedder.embed([texts[i] for i in block])
            known.update((ids[i], new[row]) for row, i in enumerate(block))
            if folder and s + CHECKPOINT < len(missing):  # an interrupted build resumes here
                _write(folder, name, model, list(known), np.stack(list(known.values())))
        embedded = len(missing)
    dim = len(next(iter(known.values()))) if known else getattr(embedder, "dim", 384)
    out = np.zeros((len(ids), dim), dtype=np.float32)
    for i, cid in enumerate(ids):
        out[i] = known[cid]
    if folder and (missing or len(known) != len(ids)):
        _write(folder, name, model, list(ids), out)
    return out, embedded


def _write(folder: Path, name: str, model: str, ids: list[str], arr: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _save_npy(folder / f"{name}.npy", arr.astype(np.float32))
    atomic_write_text(folder / f"{name}.json", json.dumps({"model": model, "ids": ids}))
