"""Chunk offsets are exact: ``doc.text[c.start:c.end] == c.text`` for every chunk."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.chunking import chunk_document
from kg.models import Document

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"


def check(doc: Document, size: int, overlap: int) -> None:
    chunks = chunk_document(doc, size, overlap)
    if doc.text.strip():
        assert chunks
    for i, c in enumerate(chunks):
        assert doc.text[c.start : c.end] == c.text
        assert c.index == i and c.doc_id == doc.id
        assert c.text.strip() == c.text and c.text
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    # every non-space character is inside some chunk
    covered = bytearray(len(doc.text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(doc.text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(
        alphabet=st.sampled_from(list("ab cd.\n!?,;é✓ \t")) | st.characters(), max_size=3000
    ),
    size=st.integers(min_value=5, max_value=400),
    overlap=st.integers(min_value=0, max_value=100),
)
def test_offsets_property(text: str, size: int, overlap: int) -> None:
    check(Document.from_text("p.txt", text or "x"), size, overlap)


def test_seed_corpus_offsets_and_sizes() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        doc = Document.from_text(path.name, path.read_text(encoding="utf-8"))
        chunks = chunk_document(doc, 1500, 150)
        check(doc, 1500, 150)
        assert max(len(c.text) for c in chunks) <= 1500
        # overlap keeps the re-read text small (tokens read per corpus token)
        assert sum(len(c.text) for c in chunks) <= 1.2 * len(doc.text)


def test_sentence_boundaries_preferred() -> None:
    text = " ".join(f"Sentence number {i} talks about K-means." for i in range(200))
    doc = Document.from_text("s.txt", text)
    chunks = chunk_document(doc, 300, 30)
    assert all(c.text.endswith(".") for c in chunks[:-1])


def test_five_megabyte_single_line() -> None:
    for text in ("word " * 1_000_000, "x" * 5_000_000):
        doc = Document.from_text("big.txt", text)
        chunks = chunk_document(doc, 1500, 150)
        assert len(chunks) < 5000
        assert all(len(c.text) <= 1500 for c in chunks)
        assert all(doc.text[c.start : c.end] == c.text for c in chunks)
        assert chunks[-1].end == len(text.rstrip())


def test_ids_are_stable() -> None:
    doc = Document.from_text("a.txt", "Alpha beta. " * 500)
    assert [c.id for c in chunk_document(doc)] == [c.id for c in chunk_document(doc)]
