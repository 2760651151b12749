"""Split documents into overlapping chunks whose offsets point exactly into the document.

Citations and graph mentions are document offsets, so ``doc.text[c.start:c.end] == c.text`` must
hold for every chunk; LangChain's ``start_index`` is checked and corrected when it misses.
"""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from kg.errors import BadInput
from kg.models import Chunk, Document

# paragraph, line, sentence, clause, word: the first that occurs in a piece is used to split it
SEPARATORS = ["\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ", ""]


class _BoundedSplitter(RecursiveCharacterTextSplitter):
    """Cuts text with no separator at all into fixed windows instead of single characters.

    LangChain's last resort splits into characters and merges them back one by one, which takes
    seconds and a lot of memory on a multi-megabyte line with no spaces.
    """

    def _split_text(self, text: str, separators: list[str]) -> list[str]:
        real = [s for s in separators if s]
        if len(text) > self._chunk_size and not any(s in text for s in real):
            step = max(1, self._chunk_size - self._chunk_overlap)
            return [
                text[i : i + self._chunk_size]
                for i in range(0, len(text), step)
                if i == 0 or i + self._chunk_overlap < len(text)
            ]
        return super()._split_text(text, separators)


def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    overlap = max(0, min(overlap, size // 2))
    return _BoundedSplitter(
        separators=SEPARATORS,
        chunk_size=size,
        chunk_overlap=overlap,
        add_start_index=True,
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_document(doc: Document, size: int = 1500, overlap: int = 150) -> list[Chunk]:
    """Chunks of at most ``size`` characters (a bit more for one unsplittable word)."""
    if size < 1:
        raise BadInput("chunk size must be positive")
    text = doc.text
    chunks: list[Chunk] = []
    cursor = 0
    for piece in _splitter(size, overlap).create_documents([text]):
        part = piece.page_content
        if not part:
            continue
        start = int(piece.metadata.get("start_index", -1))
        if start < 0 or text[start : start + len(part)] != part:
            start = text.find(part, cursor)
            if start < 0:
                start = text.find(part)
        if start < 0:  # cannot happen for substrings; never emit a chunk with wrong offsets
            continue
        cursor = start + 1
        stripped = part.strip()  # windows cut without a separator are not stripped by LangChain
        if not stripped:
            continue
        start += len(part) - len(part.lstrip())
        chunks.append(Chunk.make(doc.id, len(chunks), start, stripped))
    return chunks
