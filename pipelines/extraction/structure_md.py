"""What markdown-it-py (CommonMark with GFM tables) reads in a note: fenced code and tables.

The structure rules work on lines with document offsets; markdown-it's block tokens say which
lines are what (``token.map`` is the line range), so a table is a table when markdown-it parses
one (header, ``|---|`` line, rows) and code is code inside a real fence. The lenient line rules
stay for what markdown-it does not parse: pipe tables without the ``|---|`` line, tab-separated
tables, "•" and "1)" bullets, headings whose text offsets the rules need (markdown-it's tokens
carry no column offsets, so headings and lists keep their line patterns in structure_lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class Markdown:
    fenced: frozenset[int]  # line indexes inside fenced code blocks, the fences included
    tables: tuple[tuple[int, int], ...]  # (header line, end line exclusive) of each GFM table


@lru_cache(maxsize=8)
def read_markdown(text: str) -> Markdown:
    """The block structure of ``text`` (cached: the line splitter and the table rule ask)."""
    fenced: set[int] = set()
    tables: list[tuple[int, int]] = []
    for token in _MD.parse(text):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "fence":
            fenced.update(range(start, end))
        elif token.type == "table_open":
            tables.append((start, end))
    return Markdown(frozenset(fenced), tuple(tables))
