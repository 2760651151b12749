"""A hostile notes folder: nothing in it may crash the loader, and every skip has a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kg.chunking import chunk_document
from kg.config import Settings
from kg.loaders import iter_documents
from kg.models import Document, SkippedFile


def make_bad_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text("  \n\t\n   ", encoding="utf-8")
    (root / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    (root / "program.md").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 40)
    (root / "archive.txt").write_bytes(b"PK\x03\x04" + os.urandom(32))
    (root / "nul.txt").write_bytes(b"text\x00with\x00nul bytes")
    (root / "latin1.txt").write_bytes("café résumé naïve".encode("latin-1"))
    (root / "utf16.txt").write_bytes("UTF-16 notes about PCA".encode("utf-16"))
    (root / "utf8bom.md").write_bytes(b"\xef\xbb\xbfBOM notes about K-means")
    (root / "my notes – ünïcode ✓.md").write_text("Unicode name notes", encoding="utf-8")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / ".hidden.txt").write_text("secret", encoding="utf-8")
    hidden_dir = root / ".git"
    hidden_dir.mkdir()
    (hidden_dir / "config.txt").write_text("not notes", encoding="utf-8")
    (root / "copy_a.txt").write_text("identical content", encoding="utf-8")
    (root / "copy_b.txt").write_text("identical content", encoding="utf-8")
    (root / "bad.jsonl").write_text('{"id": 1, "text": "ok line"}\nnot json\n{"id": 2}\n', "utf-8")
    loop = root / "loop"
    loop.mkdir()
    (loop / "inner.txt").write_text("inside the loop folder", encoding="utf-8")
    os.symlink(root, loop / "back_to_root")  # a symlink loop
    os.symlink(root / "missing-target.txt", root / "dangling.txt")
    locked = root / "locked.txt"
    locked.write_text("you cannot read me", encoding="utf-8")
    locked.chmod(0)
    return root


def test_bad_inputs_never_crash_and_every_skip_has_a_reason(tmp_path: Path) -> None:
    root = make_bad_corpus(tmp_path / "notes")
    items = list(iter_documents([root], Settings()))
    docs = {i.path: i for i in items if isinstance(i, Document)}
    skipped = {i.path: i.reason for i in items if isinstance(i, SkippedFile)}

    assert skipped["empty.txt"] == "empty or whitespace-only"
    assert skipped["blank.md"] == "empty or whitespace-only"
    assert "PNG" in skipped["image.txt"]
    assert "ELF" in skipped["program.md"]
    assert "zip" in skipped["archive.txt"]
    assert "NUL" in skipped["nul.txt"]
    assert "unsupported" in skipped["photo.png"]
    assert skipped["copy_b.txt"] == "duplicate of copy_a.txt"
    assert "broken symlink" in skipped["dangling.txt"]
    assert "invalid JSON" in skipped["bad.jsonl:2"]
    assert "text" in skipped["bad.jsonl:3"]
    if os.geteuid() != 0:  # root can read a chmod-0 file
        assert "unreadable" in skipped["locked.txt"]

    assert docs["latin1.txt"].text == "café résumé naïve"  # the encoding is detected
    assert "not UTF-8" in docs["latin1.txt"].warnings[0]
    assert docs["utf16.txt"].text == "UTF-16 notes about PCA"
    assert docs["utf8bom.md"].text == "BOM notes about K-means"
    assert docs["my notes – ünïcode ✓.md"].text == "Unicode name notes"
    assert docs["bad.jsonl#1"].text == "ok line"
    assert docs["loop/inner.txt"].text == "inside the loop folder"
    assert not any(p.startswith(".") or "/." in p for p in [*docs, *skipped])
    # the loop was not followed back into the root
    assert sum(1 for p in docs if p.endswith("inner.txt")) == 1
    for doc in docs.values():
        for chunk in chunk_document(doc, 50, 10):
            assert doc.text[chunk.start : chunk.end] == chunk.text


def test_symlinked_folder_is_read_once(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_text("alpha", encoding="utf-8")
    os.symlink(real, tmp_path / "alias")
    docs = [i for i in iter_documents([tmp_path], Settings()) if isinstance(i, Document)]
    assert [d.path for d in docs] == ["alias/a.txt"]


@pytest.mark.parametrize("name", ["notes.docx", "README", "data.csv"])
def test_unsupported_extensions_are_reported(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("words", encoding="utf-8")
    items = list(iter_documents([tmp_path], Settings()))
    assert len(items) == 1 and isinstance(items[0], SkippedFile)
    assert "unsupported" in items[0].reason
