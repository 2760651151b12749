"""Chunk and entity-name embeddings kept in the workspace, for ``kg load`` to put in the store.

``kg extract`` ends by embedding every chunk text and every entity name with MiniLM (the
``vector`` view) and writes one compact file per kind and model: ``<workspace>/embeddings/
chunks-<model>.npz`` and ``entities-<model>.npz`` (float32 rows + the ids they belong to, no
JSON). Texts already encoded anywhere on this machine come from the shared per-model
``EmbeddingCache`` (keyed by text hash), so a re-extract embeds only new text. e5 is not
computed here: it is out of the default fusion (README, "Dense views").
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EMBED_DIR = "embeddings"
KINDS = ("chunks", "entities")
# texts per encoder call, by length (bench/embed_cost.py, 2 cores): short texts (entity names,
# titles) cost 3x less in batches of 32; passages near MiniLM's 256 tokens cost more batched
# (49.9 ms CPU each alone, 60.5 in 8s, 67.6 in 32s), so they go one by one
SHORT_CHARS = 200
SHORT_BATCH, LONG_BATCH = 32, 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class VectorTable:
    """Rows of one model for one kind of node, looked up by node id."""

    model_id: str
    ids: list[str]
    matrix: np.ndarray  # float32, one L2-normalised row per id

    def __post_init__(self) -> None:
        self._row = {i: n for n, i in enumerate(self.ids)}

    def __contains__(self, key: object) -> bool:
        return key in self._row

    def __getitem__(self, key: str) -> np.ndarray:
        return self.matrix[self._row[key]]

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, key: str) -> np.ndarray | None:
        row = self._row.get(key)
        return None if row is None else self.matrix[row]

    def rows_for(self, ids: Sequence[str]) -> np.ndarray:
        """The matrix rows of ``ids`` in that order (KeyError for an id without a vector)."""
        return self.matrix[[self._row[i] for i in ids]] if ids else self.matrix[:0]


def vectors_path(root: Path, kind: str, model_id: str) -> Path:
    return Path(root) / EMBED_DIR / f"{kind}-{_SAFE.sub('_', model_id)}.npz"


def save_vectors(path: Path, table: VectorTable) -> None:
    """An .npz (float32 rows, ids, model), byte-deterministic, written atomically (temp file
    + rename): a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        arrays = {
            "model": np.array(table.model_id),
            "ids": np.array(table.ids, dtype=str),
            "vectors": np.ascontiguousarray(table.matrix, dtype=np.float32),
        }
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name, arr in arrays.items():
                # a fixed timestamp (np.savez stamps "now"): the same vectors, the same bytes
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_vectors(root: Path, kind: str, model_id: str | None = None) -> VectorTable | None:
    """The workspace's vectors of ``kind`` (None when there are none or the file is unreadable)."""
    from kg.retrieval.embed import MODEL_ID

    path = vectors_path(root, kind, model_id or MODEL_ID)
    try:
        with np.load(path, allow_pickle=False) as data:
            ids = [str(i) for i in data["ids"]]
            matrix = np.asarray(data["vectors"], dtype=np.float32)
            model = str(data["model"])
    except (OSError, ValueError, KeyError):
        return None
    if len(ids) != len(matrix):
        return None
    return VectorTable(model, ids, matrix)


def _encode(texts: Sequence[str], embedder: Any, cache_dir: Path | None) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` through the shared text-hash cache; (matrix, newly encoded)."""
    from kg.retrieval.embed_cache import EmbeddingCache, default_embedding_dir

    def encode(batch: list[str]) -> np.ndarray:
        return embed_batched(embedder, batch)

    cache = EmbeddingCache(cache_dir or default_embedding_dir(), embedder.model_id, embedder.dim)
    return cache.get_or_encode(list(texts), encode)


def embed_batched(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """``embedder.embed`` with short texts batched and long ones alone (measured cheapest; a
    batch changes no vector: max abs diff 0.0)."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for keep, size in (
        (lambda n: n <= SHORT_CHARS, SHORT_BATCH),
        (lambda n: n > SHORT_CHARS, LONG_BATCH),
    ):
        idx = [i for i, text in enumerate(texts) if keep(len(text))]
        if idx:
            out[idx] = embedder.embed([texts[i] for i in idx], batch_size=size)
    return out


def embed_items(
    root: Path,
    kind: str,
    items: Iterable[tuple[str, str]],
    embedder: Any,
    cache_dir: Path | None = None,
) -> int:
    """Write ``kind``'s vector file for ``(id, text)`` pairs; returns how many were encoded."""
    pairs = list(dict(items).items())
    ids, texts = [p[0] for p in pairs], [p[1] for p in pairs]
    matrix, encoded = _encode(texts, embedder, cache_dir)
    table = VectorTable(embedder.model_id, ids, matrix)
    save_vectors(vectors_path(root, kind, embedder.model_id), table)
    return encoded


def entity_text(entity: Any) -> str:
    """What an entity's vector encodes: its name (the linker compares names with questions)."""
    return str(entity.name)


def write_embeddings(
    workspace: Any,
    chunks: Iterable[Any],
    entities: Iterable[Any],
    *,
    embedder: Any = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Embed the workspace's chunks and entity names (the one call ``kg extract`` makes at its
    end); returns texts newly encoded per kind."""
    if embedder is None:
        from kg.retrieval.embed import shared_embedder

        embedder = shared_embedder()
    done = {}
    for kind, pairs in (
        ("chunks", ((c.id, c.text) for c in chunks)),
        ("entities", ((e.id, entity_text(e)) for e in entities)),
    ):
        if progress is not None:
            progress(kind)
        done[kind] = embed_items(workspace.root, kind, pairs, embedder, cache_dir)
    return done
