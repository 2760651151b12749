"""Loading: the files under the given paths as documents, and the ones skipped with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kg.loaders import iter_documents
from kg.models import Document, SkippedFile

if TYPE_CHECKING:
    from kg.config import Settings


def load_documents(
    paths: Sequence[Path], settings: Settings
) -> tuple[list[Document], list[SkippedFile]]:
    """Read every file (the readers live in kg/loaders.py); unreadable ones become skips."""
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for item in iter_documents([Path(p) for p in paths], settings):
        if isinstance(item, Document):
            documents.append(item)
        else:
            skipped.append(item)
    return documents, skipped
