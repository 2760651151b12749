"""Document embeddings cached per model, keyed by a hash of the text.

Encoding a benchmark corpus takes minutes to an hour on two cores, so every vector ever computed
is kept: ``<cache>/embeddings/<model id>/`` holds ``vecs.f32`` (float32 rows, appended) and
``keys.txt`` (one text hash per row, written after the rows, so a crash leaves rows without a
key, which are ignored). Any corpus, index or workspace that holds the same text reuses the row.
Several processes share one cache (a benchmark, the test suite, a server): appends hold an
exclusive ``flock`` and re-read the files under it, so no writer works from a stale view.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

CHECKPOINT = 200  # texts encoded between appends: an interrupted build resumes from there
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def default_embedding_dir(cache_dir: Path | None = None) -> Path:
    from kg.config import default_cache_dir

    return (cache_dir or default_cache_dir()) / "embeddings"


class EmbeddingCache:
    """Append-only vectors of one model; ``get_or_encode`` encodes only unseen texts."""

    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.folder = Path(root) / _SAFE.sub("_", model_id)
        self.dim = dim
        self.rows: dict[str, int] = {}
        self._vecs: np.ndarray = np.zeros((0, dim), dtype=np.float32)
        self._read()

    def _read(self) -> None:
        keys_path, vec_path = self.folder / "keys.txt", self.folder / "vecs.f32"
        if not (keys_path.is_file() and vec_path.is_file()):
            return
        keys = keys_path.read_text(encoding="ascii").split()
        n_rows = vec_path.stat().st_size // (4 * self.dim)
        n = min(len(keys), n_rows)
        if n == 0:
            return
        self._vecs = np.memmap(vec_path, dtype=np.float32, mode="r", shape=(n, self.dim))
        self.rows = {k: i for i, k in enumerate(keys[:n])}

    def __len__(self) -> int:
        return len(self.rows)

    def _append(self, keys: list[str], vecs: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        vec_path, keys_path = self.folder / "vecs.f32", self.folder / "keys.txt"
        with (self.folder / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._read()  # what other processes appended meanwhile
            fresh = [i for i, k in enumerate(keys) if k not in self.rows]
            n, row = len(self.rows), 4 * self.dim
            # rows first, keys second; anything past the consistent prefix (a crash between the
            # two writes) is cut off here, under the lock
            with vec_path.open("r+b" if vec_path.is_file() else "wb") as fh:
                fh.truncate(n * row)
                fh.seek(0, 2)
                fh.write(np.ascontiguousarray(vecs[fresh], dtype=np.float32).tobytes())
            if keys_path.is_file() and len(keys_path.read_text(encoding="ascii").split()) != n:
                known = sorted(self.rows, key=self.rows.__getitem__)
                keys_path.write_text("".join(k + "\n" for k in known), encoding="ascii")
            with keys_path.open("a", encoding="ascii") as fh:
                fh.write("".join(keys[i] + "\n" for i in fresh))
            self._read()

    def get_or_encode(
        self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]
    ) -> tuple[np.ndarray, int]:
        """Vectors for ``texts`` in order, encoding only those never seen; (matrix, encoded)."""
        keys = [text_key(t) for t in texts]
        todo: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in self.rows and k not in todo:
                todo[k] = t
        pending = list(todo.items())
        for s in range(0, len(pending), CHECKPOINT):
            block = pending[s : s + CHECKPOINT]
            vecs = np.asarray(encode([t for _, t in block]), dtype=np.float32)
            self._append([k for k, _ in block], vecs)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if texts:
            out[:] = self._vecs[[self.rows[k] for k in keys]]
        return out, len(pending)
