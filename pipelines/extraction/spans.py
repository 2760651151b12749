"""Finding names and sentences in a chunk's text: the offsets every mention and evidence uses."""

from __future__ import annotations

import re

MAX_MENTIONS_PER_CHUNK = 20


def name_pattern(name: str) -> re.Pattern[str] | None:
    """Case-insensitive pattern for a name: flexible spaces/hyphens, optional plural ending."""
    tokens = [t for t in re.findall(r"\w+|[^\w\s]", name) if t != "-"]
    if not tokens or len(tokens) > 30:
        return None
    body = r"[\s\-]*".join(re.escape(t) for t in tokens)
    left = r"(?<!\w)" if re.match(r"\w", tokens[0]) else ""
    right = r"(?:e?s)?(?!\w)" if re.match(r"\w", tokens[-1]) else ""
    return re.compile(left + body + right, re.IGNORECASE)


def find_spans(name: str, text: str, limit: int = MAX_MENTIONS_PER_CHUNK) -> list[tuple[int, int]]:
    """Where ``name`` occurs in ``text`` (at most ``limit`` spans, in order)."""
    pattern = name_pattern(name)
    if pattern is None:
        return []
    spans = []
    for m in pattern.finditer(text):
        if m.end() > m.start():
            spans.append((m.start(), m.end()))
            if len(spans) >= limit:
                break
    return spans


_SENTENCE = re.compile(r"[^\n.!?]*(?:[.!?]+(?=\s|$)|\n|$)")


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a chunk (a line break also ends one), whitespace trimmed."""
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out
