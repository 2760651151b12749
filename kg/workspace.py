"""The on-disk workspace (``.kg/`` by default): JSONL per stage, a manifest, caches, a lock.

Every file is written atomically (temp file + rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TextIO, TypeVar

from pydantic import BaseModel

from kg.errors import WorkspaceError, WorkspaceLocked
from kg.models import (
    Chunk,
    Document,
    Entity,
    Manifest,
    Merge,
    Rejected,
    Relation,
    Summary,
)

M = TypeVar("M", bound=BaseModel)

FILES: dict[str, type[BaseModel]] = {
    "documents": Document,
    "chunks": Chunk,
    "entities": Entity,
    "relations": Relation,
    "summaries": Summary,
    "rejected": Rejected,
    "merges": Merge,
}


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[TextIO]:
    """A temp file beside ``path`` that replaces it only if the block finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with _atomic_file(path) as fh:
        fh.write(text)


def atomic_write_lines(path: Path, lines: Iterable[str]) -> int:
    count = 0
    with _atomic_file(path) as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
            count += 1
    return count


class Workspace:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / (name if "." in name else f"{name}.jsonl")

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def write(self, name: str, items: Iterable[BaseModel]) -> int:
        return atomic_write_lines(self.path(name), (i.model_dump_json() for i in items))

    def read(self, name: str, model: type[M] | None = None) -> list[M]:
        return list(self.iter(name, model))

    def iter(self, name: str, model: type[M] | None = None) -> Iterator[M]:
        cls = model or FILES[name]
        path = self.path(name)
        if not path.is_file():
            return
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield cls.model_validate_json(line)  # type: ignore[misc]
                    except ValueError as exc:
                        raise WorkspaceError(f"{path}:{n}: invalid record: {exc}") from exc

    def write_outputs(self, outputs: Mapping[str, Iterable[BaseModel]], manifest: Manifest) -> None:
        """A run's files, each atomically, then the manifest: the manifest names a whole run."""
        for name, rows in outputs.items():
            self.write(name, rows)
        self.write_manifest(manifest)

    def write_manifest(self, manifest: Manifest) -> None:
        atomic_write_text(self.manifest_path, manifest.model_dump_json(indent=2))

    def manifest(self) -> Manifest:
        if not self.exists():
            raise WorkspaceError(
                f"no workspace at {self.root}/ (run `kg extract PATH` first, or pass --workspace)"
            )
        try:
            return Manifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:  # a hand-edited or truncated manifest is the user's to fix
            raise WorkspaceError(
                f"{self.manifest_path} is not a valid manifest (re-run `kg extract PATH`): "
                f"{' '.join(str(exc).split())[:300]}"
            ) from exc

    def write_json(self, name: str, data: object) -> None:
        atomic_write_text(self.root / name, json.dumps(data, indent=2, sort_keys=True))

    def read_json(self, name: str, default: object = None) -> object:
        path = self.root / name
        if not path.is_file():
            return default
        return json.loads(path.read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def lock(self, name: str = "kg") -> Iterator[None]:
        """An exclusive, non-blocking lock: a second `kg load` on one workspace fails fast."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f".{name}.lock"
        with path.open("a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WorkspaceLocked(
                    f"another kg process holds {path} ({name} already running on this workspace)"
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
