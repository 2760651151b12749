"""Chunking: each document cut into overlapping chunks with exact offsets (kg/chunking.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kg.chunking import chunk_document
from kg.models import Chunk, Document

if TYPE_CHECKING:
    from kg.config import Settings


def chunk_documents(documents: list[Document], settings: Settings) -> dict[str, list[Chunk]]:
    """Document id -> its chunks, in document order."""
    return {d.id: chunk_document(d, settings.chunk_size, settings.chunk_overlap) for d in documents}
