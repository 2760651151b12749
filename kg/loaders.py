"""Read files into Documents, and say why every file that is not read was skipped.

Notes folders hold all sorts of things (screenshots, zips, editor backups); a file we cannot read
as text must never stop a run, so each one becomes a ``SkippedFile`` the CLI prints as a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from kg.errors import NotFound
from kg.models import Document, SkippedFile

if TYPE_CHECKING:
    from kg.config import Settings

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".jsonl"}

# leading bytes of common binary formats that may sit in a notes folder
_MAGIC: dict[bytes, str] = {
    b"\x89PNG": "PNG image",
    b"\x7fELF": "ELF executable",
    b"PK\x03\x04": "zip archive",
    b"PK\x05\x06": "zip archive",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"\x1f\x8b": "gzip archive",
    b"%PDF": "PDF",
    b"MZ": "Windows executable",
    b"\xcf\xfa\xed\xfe": "Mach-O executable",
    b"SQLite format 3": "SQLite database",
}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def iter_documents(paths: Sequence[Path], settings: Settings) -> Iterator[Document | SkippedFile]:
    """Documents from files and folders (recursive, sorted); duplicates by content collapse.

    A link that resolves outside the folder it was found in is skipped (a ``passwd`` link in a
    notes folder must not become searchable) unless ``settings.follow_links``."""
    seen: dict[str, str] = {}
    follow = settings.follow_links
    for given in paths:
        given = Path(given)
        if not given.exists() and not given.is_symlink():
            raise NotFound(f"no such file or folder: {given}")
        root = given if given.is_dir() else given.parent
        for file, escaped in _walk(given, follow):
            if escaped:
                rel = _rel(file, root)
                yield SkippedFile(
                    path=rel,
                    reason=f"link to {escaped}, outside {given}; pass --follow-links to read it",
                )
                continue
            for item in _load_file(file, root, settings):
                if isinstance(item, Document):
                    first = seen.get(item.id)
                    if first is not None:
                        yield SkippedFile(path=item.path, reason=f"duplicate of {first}")
                        continue
                    seen[item.id] = item.path
                yield item


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _walk(given: Path, follow: bool = False) -> Iterator[tuple[Path, str | None]]:
    """(file, None) under ``given`` in sorted order, or (link, its target) for a link that
    leaves ``given``; hidden entries and symlink loops are skipped."""
    if not given.is_dir():
        yield given, None  # a file named on the command line is the user's explicit choice
        return
    root = os.path.realpath(given)
    visited: set[str] = set()

    def visit(folder: Path) -> Iterator[tuple[Path, str | None]]:
        real = os.path.realpath(folder)
        if real in visited:  # a symlink loop or a second link to a folder already read
            return
        visited.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if not follow and entry.is_symlink():
                target = os.path.realpath(path)
                if os.path.exists(target) and not _inside(target, root):
                    yield path, target
                    continue
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                yield from visit(path)
            else:
                yield path, None

    yield from visit(given)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _load_file(path: Path, root: Path, settings: Settings) -> Iterator[Document | SkippedFile]:
    rel = _rel(path, root) if path != root else path.name
    if path.name.startswith("."):
        yield SkippedFile(path=rel, reason="hidden file")
        return
    suffix = path.suffix.lower()
    try:
        if not path.is_file():
            reason = "broken symlink" if path.is_symlink() else "not a regular file"
            yield SkippedFile(path=rel, reason=reason)
            return
        size = path.stat().st_size
    except OSError as exc:
        yield SkippedFile(path=rel, reason=f"unreadable: {exc.strerror or exc}")
        return
    if suffix not in SUPPORTED:
        yield SkippedFile(path=rel, reason=f"unsupported file type {suffix or '(none)'}")
        return
    if size > settings.max_file_bytes:
        yield SkippedFile(
            path=rel, reason=f"too large ({size} bytes > max_file_bytes {settings.max_file_bytes})"
        )
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield SkippedFile(path=rel, reason=f"unreadable: {exc.strerror or exc}")
        return
    if suffix == ".pdf":
        yield _pdf(data, rel)
        return
    kind = _binary_kind(data)
    if kind:
        yield SkippedFile(path=rel, reason=f"binary file ({kind})")
        return
    text, warnings = _decode(data)
    if suffix == ".jsonl":
        yield from _jsonl(text, rel, warnings)
        return
    title = None
    if suffix in HTML_SUFFIXES:
        text, title = _html_text(text)
    yield _document(rel, text, title, warnings, fmt=suffix.lstrip(".") or "text")


def _binary_kind(data: bytes) -> str | None:
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return None
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    if b"\x00" in data[:8192]:
        return "contains NUL bytes"
    return None


def _decode(data: bytes) -> tuple[str, list[str]]:
    """Text of a file: a BOM's encoding, else UTF-8, else the encoding charset-normalizer
    detects (notes saved as latin-1 or cp1251 must not become "Fran\ufffdois")."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), []
            except UnicodeDecodeError:
                text = data.decode(encoding, errors="replace")
                return text, [f"invalid {encoding}: undecodable bytes replaced with U+FFFD"]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    utf8 = data.decode("utf-8", errors="replace")
    bad = utf8.count("\ufffd")
    multibyte = sum(1 for ch in utf8 if ord(ch) > 0x7F) - bad
    if multibyte <= bad:  # mostly not UTF-8: detect the single-byte (or other) encoding
        detected = _detect(data)
        if detected is not None:
            text, encoding = detected
            return text, [f"not UTF-8: decoded as {encoding} (detected)"]
    return utf8, [f"invalid UTF-8 at byte {first_bad}: undecodable bytes replaced with U+FFFD"]


# a short text often fits several code pages equally well: Windows-1252 (what "latin-1" files
# usually are) wins a tie, and legacy Mac/DOS/EBCDIC pages lose one
_PREFERRED_ENCODING = "cp1252"
_RARE_ENCODINGS = ("mac_", "cp437", "cp775", "cp85", "cp86", "hp_", "cp037", "cp500", "cp1140")


def _detect(data: bytes) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= least + 0.02]
    for m in tied:
        if _PREFERRED_ENCODING in m.could_be_from_charset:
            return data.decode(_PREFERRED_ENCODING, errors="replace"), _PREFERRED_ENCODING
    common = [m for m in tied if not m.encoding.startswith(_RARE_ENCODINGS)] or tied
    best = max(common, key=lambda m: m.coherence)
    return str(best), best.encoding


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _document(
    rel: str, text: str, title: str | None, warnings: list[str], fmt: str
) -> Document | SkippedFile:
    text = _clean(text)
    if not text.strip():
        return SkippedFile(path=rel, reason="empty or whitespace-only")
    return Document.from_text(rel, text, title=title, format=fmt, warnings=list(warnings))


def _jsonl(text: str, rel: str, warnings: list[str]) -> Iterator[Document | SkippedFile]:
    """One Document per line of ``{"id", "title", "text"}``; a bad line is skipped, not fatal."""
    any_line = False
    for n, line in enumerate(_clean(text).split("\n"), 1):
        if not line.strip():
            continue
        any_line = True
        where = f"{rel}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield SkippedFile(path=where, reason=f"invalid JSON line: {exc.msg}")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            yield SkippedFile(path=where, reason='JSONL line has no "text" string')
            continue
        key = str(row.get("id") or n)
        title = row.get("title") if isinstance(row.get("title"), str) else None
        yield _document(f"{rel}#{key}", row["text"], title or None, warnings, fmt="jsonl")
    if not any_line:
        yield SkippedFile(path=rel, reason="empty or whitespace-only")


def _pdf(data: bytes, rel: str) -> Document | SkippedFile:
    import io

    from pypdf import PdfReader

    with _pypdf_messages() as notes:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                try:
                    reader.decrypt("")
                except Exception:
                    return SkippedFile(path=rel, reason="encrypted PDF")
            pages = [(page.extract_text() or "").strip() for page in reader.pages]
            title = None
            meta = reader.metadata
            if meta is not None and meta.title:
                title = str(meta.title)
        except Exception as exc:  # pypdf raises many types on damaged files
            why = f" ({'; '.join(notes)})" if notes else ""
            reason = f"unreadable PDF{why}: {type(exc).__name__}: {exc}"
            return SkippedFile(path=rel, reason=reason)
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        return SkippedFile(path=rel, reason="PDF has no extractable text (scanned?)")
    return _document(rel, text, title, [f"PDF: {n}" for n in notes], fmt="pdf")


_PYPDF_LOCK = threading.Lock()


@contextlib.contextmanager
def _pypdf_messages() -> Iterator[list[str]]:
    """pypdf's warnings while reading one file, collected instead of printed: on their own
    ("EOF marker not found") they do not say which file they are about."""
    notes: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage().strip()
            if message and message not in notes:
                notes.append(message)

    logger = logging.getLogger("pypdf")
    handler = _Collect(logging.WARNING)
    with _PYPDF_LOCK:
        propagate = logger.propagate
        logger.addHandler(handler)
        logger.propagate = False
        try:
            yield notes
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, with block elements on their own lines."""

    _BLOCK = frozenset(
        [
            "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
            "section", "article", "header", "footer", "blockquote", "pre", "hr", "dt", "dd",
        ]
    )  # fmt: skip
    _HIDDEN = frozenset({"script", "style", "noscript", "template", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._HIDDEN:
            self._hidden += 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._hidden:
            self.parts.append(data)


def _html_text(html: str) -> tuple[str, str | None]:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    title = " ".join("".join(parser.title_parts).split()) or None
    return text.strip(), title
