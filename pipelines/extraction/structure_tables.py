"""Tables: markdown (as markdown-it parses them), plain pipe without the ``|---|`` line, tabs.

The header row names the columns; a column whose header holds a kind keyword ("Topics Covered",
"Resources", "Instructor") gets that kind, and each row relates its cells by the ontology's
(head kind, tail kind) rules. Columns whose header names no kind (days, status, notes) are
ignored, and so is a table none of whose columns has a kind.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from kg.ontology import StructureKind
from pipelines.extraction.structure import Collector, Line, Placed
from pipelines.extraction.structure_md import read_markdown
from pipelines.extraction.structure_text import clean_item, items_in
from pipelines.extraction.structure_vocab import is_junk, kind_of, words

Cells = list[tuple[int, int]]
_SEPARATOR_CELL = re.compile(r"^\s*:?-+:?\s*$")


def pipe_cells(line: Line) -> Cells | None:
    """Cell spans of a ``a | b | c`` line (leading/trailing pipes optional); None if no table."""
    text = line.text
    if line.code or "|" not in text:
        return None
    cuts, in_code = [], False
    for i, ch in enumerate(text):
        if ch == "`":
            in_code = not in_code
        elif ch == "|" and not in_code and (i == 0 or text[i - 1] != "\\"):
            cuts.append(i)
    if not cuts:
        return None
    bounds = [-1, *cuts, len(text)]
    cells = [(a + 1, b) for a, b in itertools.pairwise(bounds)]
    if not text[: cuts[0]].strip():
        cells = cells[1:]
    if cells and not text[cuts[-1] + 1 :].strip():
        cells = cells[:-1]
    if len(cells) < 2:
        return None
    return [(line.start + a, line.start + b) for a, b in cells]


def tab_cells(line: Line) -> Cells | None:
    """Cell spans of a tab-separated line with at least two non-empty cells."""
    if line.code or "\t" not in line.text.strip():
        return None
    cells = [
        (line.start + m.start(), line.start + m.end()) for m in re.finditer(r"[^\t]+", line.text)
    ]
    cells = [(s, e) for s, e in cells if line.text[s - line.start : e - line.start].strip()]
    return cells if len(cells) >= 2 else None


def _is_separator(text: str, cells: Cells, offset: int) -> bool:
    return all(_SEPARATOR_CELL.match(text[s - offset : e - offset]) for s, e in cells)


def _tables(
    lines: list[Line], cells_of: Callable[[Line], Cells | None], need_separator: bool
) -> list[tuple[Line, Cells, list[tuple[Line, Cells]], list[Line]]]:
    """(header, header cells, rows, all lines) for every table the splitter finds."""
    out = []
    i = 0
    while i < len(lines):
        block: list[tuple[Line, Cells]] = []
        while i < len(lines) and (cells := cells_of(lines[i])) is not None:
            block.append((lines[i], cells))
            i += 1
        i += 1 if not block else 0
        if len(block) < 2:
            continue
        has_sep = any(k > 0 and _is_separator(ln.text, c, ln.start)
                      for k, (ln, c) in enumerate(block))  # fmt: skip
        if need_separator and not has_sep:
            continue
        out += _split_block(block)
    return out


def _markdown_tables(
    text: str, lines: list[Line]
) -> list[tuple[Line, Cells, list[tuple[Line, Cells]], list[Line]]]:
    """(header, header cells, rows, all lines) of every table markdown-it parses. Its rows run
    while the lines have pipes: markdown-it also takes a pipe-less line as a row, and ends a
    table at a row that looks like a list item ("1. Book | done"), which notes write. A
    ``|---|`` line further down starts the next table under its own header."""
    out = []
    for first, _end in read_markdown(text).tables:
        block: list[tuple[Line, Cells]] = []
        for line in lines[first:]:
            cells = pipe_cells(line)
            if cells is None:
                break
            block.append((line, cells))
        out += _split_block(block)
    return out


def _split_block(
    block: list[tuple[Line, Cells]],
) -> list[tuple[Line, Cells, list[tuple[Line, Cells]], list[Line]]]:
    """A run of pipe lines as tables: each ``|---|`` line makes the line above it a header."""
    if len(block) < 2:
        return []
    seps = [k for k, (ln, c) in enumerate(block) if k > 0 and _is_separator(ln.text, c, ln.start)]
    if not seps:
        header, rows = block[0], block[1:]
        return [(header[0], header[1], rows, [ln for ln, _ in block])]
    out = []
    for n, k in enumerate(seps):
        stop = seps[n + 1] - 1 if n + 1 < len(seps) else len(block)
        header, rows = block[k - 1], block[k + 1 : stop]
        out.append((header[0], header[1], rows, [ln for ln, _ in block[k - 1 : stop]]))
    return out


def extract_tables(collector: Collector, lines: list[Line]) -> set[int]:
    """Run the table rule; returns the indexes of the lines that belong to tables.

    markdown-it's tables come first; the lenient rules then read pipe lines it did not take
    (no ``|---|`` line) and tab-separated lines."""
    used: set[int] = set()
    markdown = _markdown_tables(collector.text, lines)
    taken = {ln.index for *_rest, block in markdown for ln in block}

    def lenient_pipes(line: Line) -> Cells | None:
        return None if line.index in taken else pipe_cells(line)

    pipes = sorted([*markdown, *_tables(lines, lenient_pipes, need_separator=False)],
                   key=lambda table: table[0].index)  # fmt: skip
    for _header, head_cells, rows, block in [*pipes, *_tables(lines, tab_cells, False)]:
        if any(ln.index in used for ln in block):
            continue
        kinds = [kind_of(collector.text[s:e], collector.rules) for s, e in head_cells]
        named = [_header_item(collector, s, e) for s, e in head_cells]
        kinds = [k or (n.kind if n else None) for k, n in zip(kinds, named, strict=True)]
        if not any(kinds):
            continue
        used.update(ln.index for ln in block)
        for line, cells in rows:
            _row(collector, line, cells, kinds, named)
    return used


def _header_item(collector: Collector, start: int, end: int) -> Placed | None:
    """A header that names one item of a kind ("Test accuracy", "BLEU"), as that item."""
    ws = words(collector.text[start:end])
    if not ws or len(ws) > 4:
        return None
    for kind in collector.rules.kinds:
        for name in kind.header_names:
            nw = words(name)
            if nw and ws[-len(nw) :] == nw:
                item = clean_item(collector.text, start, end, collector.rules)
                return collector.place(item, kind, kind.type) if item else None
    return None


def _row(
    collector: Collector,
    line: Line,
    cells: Cells,
    kinds: list[StructureKind | None],
    named: list[Placed | None],
) -> None:
    text = collector.text
    lead = len(line.text) - len(line.text.lstrip())
    row_span = (line.start + lead, line.start + len(line.text.rstrip()))
    columns: list[tuple[StructureKind, list[Placed]]] = []
    for (start, end), kind, header in zip(cells, kinds, named, strict=False):
        if kind is None:
            continue
        if header is not None:  # a score under "Accuracy" is a measurement of accuracy
            value = text[start:end].strip()
            numeric = bool(re.search(r"\d", value)) and is_junk(value, collector.rules.max_words)
            if numeric and collector.entity(header, "table"):
                columns.append((kind, [header]))
            continue
        placed: list[Placed] = []
        for item, versus in items_in(text, start, end, kind, collector.rules, colon=kind.split_and):
            p = collector.place(item, kind)
            if not collector.entity(p, "table"):
                continue
            placed.append(p)
            collector.item_extras(p, "table", row_span)
            if versus is not None:
                collector.compared(p, collector.place(versus, kind), "table", row_span)
        columns.append((kind, placed))
    for hk, heads in columns:
        for tk, tails in columns:
            rel = collector.rule(hk, tk)
            if rel is None:
                continue
            for h in heads:
                for t in tails:
                    cover = (min(h.item.start, t.item.start), max(h.item.end, t.item.end))
                    collector.relation(h, rel, t, [row_span, cover], "table")
