"""Loaders: every supported format, deterministic order, relative paths, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.config import Settings
from kg.loaders import iter_documents
from kg.models import Document, SkippedFile


def load(*paths: Path, **settings: object) -> tuple[list[Document], list[SkippedFile]]:
    docs, skipped = [], []
    for item in iter_documents(list(paths), Settings(**settings)):
        (docs if isinstance(item, Document) else skipped).append(item)
    return docs, skipped


def test_text_markdown_html_jsonl_and_order(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# Title B\nK-means notes.\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("Line one.\r\nLine two.\r\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "page.html").write_text(
        "<html><head><title>My Page</title><style>p{}</style><script>var x=1;</script></head>"
        "<body><h1>PCA</h1><p>Principal &amp; component <b>analysis</b>.</p></body></html>",
        encoding="utf-8",
    )
    rows = [
        {"id": "n1", "title": "First", "text": "Andrew Ng teaches."},
        {"id": "n2", "title": "Second", "text": "PyTorch is a library."},
    ]
    (sub / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")
    docs, skipped = load(tmp_path)
    assert skipped == []
    assert [d.path for d in docs] == [
        "a.txt", "b.md", "sub/page.html", "sub/rows.jsonl#n1", "sub/rows.jsonl#n2",
    ]
    a, b, html, r1, r2 = docs
    assert a.text == "Line one.\nLine two.\n"  # newlines normalised, offsets refer to this text
    assert b.title == "Title B"
    assert html.title == "My Page"
    assert "Principal & component analysis." in html.text
    assert "var x" not in html.text and "p{}" not in html.text
    assert (r1.title, r1.text) == ("First", "Andrew Ng teaches.")
    assert r2.format == "jsonl"
    # a second run gives the same documents in the same order
    assert [d.id for d in load(tmp_path)[0]] == [d.id for d in docs]


def test_pdf(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    path = tmp_path / "blank.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    docs, skipped = load(path)
    assert docs == []
    assert skipped[0].path == "blank.pdf"
    assert "no extractable text" in skipped[0].reason


def test_real_pdf_text(tmp_path: Path) -> None:
    pdf = _pdf_with_text("Eigenvalues explain variance in PCA.")
    path = tmp_path / "notes.pdf"
    path.write_bytes(pdf)
    docs, skipped = load(path)
    assert skipped == []
    assert "Eigenvalues explain variance in PCA." in docs[0].text
    assert docs[0].format == "pdf"


def _pdf_with_text(text: str) -> bytes:
    """A minimal one-page PDF with a text object (pypdf cannot write text itself)."""
    content = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref,
    )
    return bytes(out)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load(tmp_path / "nope")


def test_file_argument_path_is_its_name(tmp_path: Path) -> None:
    f = tmp_path / "deep" / "note.txt"
    f.parent.mkdir()
    f.write_text("hello there", encoding="utf-8")
    docs, _ = load(f)
    assert docs[0].path == "note.txt"


def test_duplicates_collapse(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("same words here", encoding="utf-8")
    (tmp_path / "two.md").write_text("same words here", encoding="utf-8")
    docs, skipped = load(tmp_path)
    assert len(docs) == 1 and docs[0].path == "one.txt"
    assert skipped == [SkippedFile(path="two.md", reason="duplicate of one.txt")]


def test_size_limit(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 2000, encoding="utf-8")
    docs, skipped = load(tmp_path, max_file_bytes=1000)
    assert docs == []
    assert "too large" in skipped[0].reason


def test_symlink_out_of_the_folder_is_skipped(tmp_path: Path) -> None:
    notes, outside = tmp_path / "notes", tmp_path / "outside"
    notes.mkdir()
    outside.mkdir()
    (notes / "mine.txt").write_text("my own note about PCA", encoding="utf-8")
    (outside / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    (outside / "deep").mkdir()
    (outside / "deep" / "more.txt").write_text("another secret file", encoding="utf-8")
    (notes / "passwd_link.txt").symlink_to(outside / "secret.txt")
    (notes / "dir_link").symlink_to(outside / "deep", target_is_directory=True)
    (notes / "zz_inside.txt").symlink_to(notes / "mine.txt")  # stays inside: read (a duplicate)
    docs, skipped = load(notes)
    assert [d.path for d in docs] == ["mine.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons.pop("zz_inside.txt") == "duplicate of mine.txt"
    assert set(reasons) == {"passwd_link.txt", "dir_link"}
    for reason in reasons.values():
        assert "outside" in reason and "--follow-links" in reason
    # an explicit --follow-links reads them
    docs, skipped = load(notes, follow_links=True)
    assert sorted(d.path for d in docs) == ["dir_link/more.txt", "mine.txt", "passwd_link.txt"]


def test_broken_pdf_reason_names_the_problem_and_nothing_is_logged_bare(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken.pdf").write_bytes(_pdf_with_text("Truncated notes")[:-40])
    with caplog.at_level("WARNING"):
        docs, skipped = load(tmp_path)
    assert docs == []
    assert skipped[0].path == "broken.pdf"
    assert "EOF marker not found" in skipped[0].reason
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("François Truffaut a réalisé des films très célèbres.\n", "latin-1"),
        ("Über die Größe der Straße in München — Notizen.\n", "cp1252"),
        ("Заметки о кластеризации методом k-средних и о PCA.\n", "cp1251"),
    ],
)
def test_non_utf8_text_is_decoded_by_detection(tmp_path: Path, text: str, encoding: str) -> None:
    (tmp_path / "note.txt").write_bytes(text.encode(encoding))
    docs, skipped = load(tmp_path)
    assert skipped == []
    assert docs[0].text == text
    assert "\ufffd" not in docs[0].text
    assert any("not UTF-8" in w for w in docs[0].warnings)


def test_utf8_with_one_stray_byte_stays_utf8(tmp_path: Path) -> None:
    text = "Café notes: naïve Bayes, Müller’s k-means — " * 20
    (tmp_path / "note.txt").write_bytes(text.encode("utf-8") + b"\xff end\n")
    docs, _ = load(tmp_path)
    assert docs[0].text.startswith("Café notes: naïve Bayes, Müller’s k-means")
    assert docs[0].text.count("\ufffd") == 1
