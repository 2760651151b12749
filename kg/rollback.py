"""Undo an ingest that failed half-way, so the workspace never runs ahead of the store.

A snapshot hard-links the workspace's top-level files into a hidden folder beside them. Every
workspace write replaces its file by rename (kg.workspace), so the links keep the old contents
at no copying cost; ``restore`` moves them back and removes files the failed run added.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


class Snapshot:
    """The workspace's top-level files (not its caches or store) as they were when made."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=self.root))
        self.names = {p.name for p in self._files()}
        for name in self.names:
            _keep(self.root / name, self.dir / name)
        self._added: list[Path] = []
        self._replaced: dict[Path, Path] = {}

    def _files(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_file() and not p.name.startswith(".")]

    def add_file(self, source: Path, target: Path) -> None:
        """Copy ``source`` to ``target`` (an upload), remembering how to take it back."""
        if target.exists() and target not in self._replaced:
            kept = self.dir / f"replaced-{len(self._replaced)}"
            _keep(target, kept)
            self._replaced[target] = kept
        elif not target.exists():
            self._added.append(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copy2(source, tmp)
        os.replace(tmp, target)  # a replaced upload's old inode stays linked in the snapshot

    def restore(self, *, drop: tuple[str, ...] = ()) -> None:
        """Put the files back as they were; ``drop``: names to remove rather than restore."""
        for path in self._files():
            if path.name not in self.names or path.name in drop:
                path.unlink(missing_ok=True)
        for name in self.names - set(drop):
            os.replace(self.dir / name, self.root / name)
        for path in self._added:
            path.unlink(missing_ok=True)
        for target, kept in self._replaced.items():
            os.replace(kept, target)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _keep(path: Path, copy: Path) -> None:
    try:
        os.link(path, copy)
    except OSError:  # no hard links here (some network file systems): copy instead
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(path, copy)
