"""Turning the text of a table cell, list item or label value into entity names with exact spans.

Structure rules see raw markdown (``**PyTorch**``, ``[PCA](https://…)``, ``1. Deep Learning``,
``Convolution Neural Network(CNN)``); the entity name drops that markup while the span stays on
the document, so that ``document.text[start:end]`` is always the mention text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kg.ontology import StructureKind, StructureRules
from pipelines.extraction.structure_vocab import DONE_VERBS, PRONOUNS, is_junk, is_label_words

_LINK = re.compile(r"^\[([^\]]+)\]\([^)]*\)$")
_LIST_MARKER = re.compile(r"^(?:[-*+•▪●◦‣]\s+|\d{1,3}[.)]\s*(?=\D)|[a-z][.)]\s+)")
_EDGE_JUNK = " \t\"'“”‘’.,;:!?-–—=>*_`~"
_WRAPPERS = ("**", "__", "*", "_", "`", "~~", '"', "“", "'")
_GENERIC_LEAD = re.compile(
    r"(?:labs?|revision|review|recap|intro|introduction|overview|basics|implementation|"
    r"implementing|using)\s+(?:on|of|to|for|in)?\s*|(?:using|implementing)\s+",
    re.IGNORECASE,
)
_GENERIC_TAIL = re.compile(
    r"\s+(?:implementation|implementations|introduction|intro|basics|overview|usecase|use case|"
    r"solution)$",
    re.IGNORECASE,
)
_ACRONYM = re.compile(r"^[A-Z][A-Za-z0-9\-]{0,9}$")
_INLINE_MARKUP = re.compile(r"\*\*|__|`|~~|(?<!\w)[*_]|[*_](?!\w)")


@dataclass
class Item:
    """One name found in a cell or list: its document span and its cleaned name."""

    start: int
    end: int
    name: str
    aliases: list[str] = field(default_factory=list)
    members: list[Item] = field(default_factory=list)  # "activation functions (ReLU, ELU)"


def split_segments(text: str, offset: int, split_and: bool, colon: bool) -> list[tuple[int, int]]:
    """Spans (document offsets) of the comma/semicolon/"and"-separated parts of ``text``.

    Separators inside parentheses do not split; when the parentheses never balance (notes
    often forget the closing one) they are ignored and every separator splits.
    """
    seps = r",|;"
    if split_and:
        seps += r"|\s+and\s+|\s+or\s+|\s+\+\s+"
    if colon:
        seps += r"|\s*:(?!//)\s*"
    pattern = re.compile(seps, re.IGNORECASE)
    balanced = text.count("(") == text.count(")")
    spans: list[tuple[int, int]] = []
    depth, pos, i = 0, 0, 0
    while i < len(text):
        ch = text[i]
        if balanced and ch in "([":
            depth += 1
        elif balanced and ch in ")]":
            depth = max(0, depth - 1)
        elif depth == 0:
            m = pattern.match(text, i)
            if m and m.end() > i:
                spans.append((offset + pos, offset + i))
                pos = i = m.end()
                continue
        i += 1
    spans.append((offset + pos, offset + len(text)))
    return [(s, e) for s, e in spans if e > s]


def _split_and(doc: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split on "and"/"or" unless the two sides share a head or a verb.

    "L1 and L2 regularization" and "Vanishing and exploding of gradients" share the words of
    the longer side; "Diagnosing bias and variance" shares its verb: each stays one item.
    """
    parts = split_segments(doc[start:end], start, split_and=True, colon=False)
    if len(parts) == 2:
        left, right = (doc[a:b].lower().split() for a, b in parts)
        if right[0] in PRONOUNS:  # "overfitting and its solution"
            return parts[:1]
        if len(left) == 1 and len(right) >= 2 and _parallel(left[0], right[0]):
            return [(start, end)]
        if len(left) >= 2 and len(right) == 1 and left[0].endswith("ing"):
            return [(start, end)]
    return parts


def _parallel(a: str, b: str) -> bool:
    """Two words of one form, so a head noun after the second is shared: "L1 and L2 loss"."""
    if a.endswith("ing") and b.endswith("ing"):
        return True
    return any(c.isdigit() for c in a) and any(c.isdigit() for c in b)


def split_versus(doc: str, start: int, end: int) -> list[tuple[int, int]]:
    """``A vs B`` is two spans (a comparison); anything else is itself."""
    m = re.search(r"\s+(?:vs\.?|versus)\s+", doc[start:end], re.IGNORECASE)
    if not m:
        return [(start, end)]
    return [(start, start + m.start()), (start + m.end(), end)]


def _trim(doc: str, start: int, end: int) -> tuple[int, int]:
    """Drop list markers, wrapping emphasis, links and edge punctuation, keeping exact offsets."""
    changed = True
    while changed and start < end:
        changed = False
        while start < end and doc[start] in " \t":
            start += 1
        while end > start and doc[end - 1] in " \t":
            end -= 1
        piece = doc[start:end]
        m = _LIST_MARKER.match(piece)
        if m and m.end() < len(piece):
            start += m.end()
            changed = True
            continue
        link = _LINK.match(piece)
        if link:
            start, end = start + 1, start + 1 + len(link.group(1))
            changed = True
            continue
        for w in _WRAPPERS:
            if len(piece) > 2 * len(w) and piece.startswith(w) and piece.endswith(w):
                start, end = start + len(w), end - len(w)
                changed = True
                break
        if changed:
            continue
        if doc[start:end][:1] in _EDGE_JUNK or doc[start:end][-1:] in _EDGE_JUNK:
            s2, e2 = start, end
            while s2 < e2 and doc[s2] in _EDGE_JUNK:
                s2 += 1
            while e2 > s2 and doc[e2 - 1] in _EDGE_JUNK:
                e2 -= 1
            # keep a closing quote/emphasis when it wraps an inner word, e.g. "`n_init`"
            changed = (s2, e2) != (start, end)
            start, end = s2, e2
        piece = doc[start:end]
        if piece.endswith(")") and piece.count(")") > piece.count("("):
            end -= 1  # "Introduction to Deeplearning)": a bracket the note never opened
            changed = True
            continue
        if piece.startswith("(") and piece.count("(") > piece.count(")"):
            start += 1
            changed = True
            continue
        low = doc[start:end].lower()
        for lead in ("and ", "or ", "also ", "the ", "e.g. ", "e.g ", "i.e. ", "eg "):
            if low.startswith(lead) and end - start > len(lead):
                start += len(lead)
                changed = True
                break
    return start, end


def _tail_paren(doc: str, start: int, end: int) -> tuple[int, int, int, int] | None:
    """``name (inside)`` at the end of a span: (name_end, inner_start, inner_end, close)."""
    piece = doc[start:end]
    if not piece.endswith(")"):
        opened = piece.rfind("(")  # an unclosed "(…" at the end: "BERT(trained to …"
        if opened <= 0 or ")" in piece[opened:]:
            return None
        return start + opened, start + opened + 1, end, end
    depth = 0
    for i in range(len(piece) - 1, -1, -1):
        if piece[i] == ")":
            depth += 1
        elif piece[i] == "(":
            depth -= 1
            if depth == 0:
                if i == 0:
                    return None
                return start + i, start + i + 1, end - 1, end
    return None


def _name_of(doc: str, start: int, end: int) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", doc[start:end])
    text = _INLINE_MARKUP.sub("", text)
    text = re.sub(r"\s*\([^)]*\)\s*", " ", text)  # a parenthetical inside the name
    return re.sub(r"\s+", " ", text).strip(_EDGE_JUNK)


def _strip_generic(doc: str, start: int, end: int) -> tuple[int, int]:
    """The topic only, without "Labs on", "Implementation of" or a trailing "implementation"."""
    m = _GENERIC_LEAD.match(doc, start, end)
    if m and m.end() < end:
        start = m.end()
    m = _GENERIC_TAIL.search(doc, start, end)
    if m and m.start() > start:
        end = m.start()
    return start, end


def clean_item(
    doc: str, start: int, end: int, rules: StructureRules, topic: bool = False
) -> Item | None:
    """The entity an item span names, or None when it names nothing (junk).

    ``topic`` items (of multi-valued kinds) also lose generic words around the topic; titles
    ("Introduction to Deep Learning") keep them.
    """
    start, end = _trim(doc, start, end)
    if topic:
        start, end = _trim(doc, *_strip_generic(doc, start, end))
        if doc[start:end].split()[:1] and doc[start:end].split()[0].lower() in DONE_VERBS:
            return None  # "Created test data": what the author did, not a topic
    if end <= start:
        return None
    aliases: list[str] = []
    members: list[Item] = []
    paren = _tail_paren(doc, start, end)
    if paren is not None:
        name_end, in_s, in_e, _ = paren
        inner = doc[in_s:in_e].strip()
        if _ACRONYM.match(inner) and sum(c.isupper() for c in inner) >= 2:
            aliases.append(inner)
        elif "," in inner and doc[in_e : in_e + 1] == ")":
            for s, e in split_segments(doc[in_s:in_e], in_s, split_and=False, colon=False):
                member = clean_item(doc, s, e, rules)
                if member is not None and len(member.name.split()) <= 4:
                    members.append(member)
            if len(members) < 2:
                members = []
        start, end = _trim(doc, start, name_end)
        if end <= start:
            return None
    cut = re.search(r"\s+(?:i\.?e\.?|e\.?g\.?|etc\.?)(?:\s|$)", doc[start:end], re.IGNORECASE)
    if cut:
        start, end = _trim(doc, start, start + cut.start())
        if end <= start:
            return None
    name = _name_of(doc, start, end)
    if not name or is_junk(name, rules.max_words) or is_label_words(name, rules):
        return None
    return Item(start, end, name, aliases, members)


def items_in(
    doc: str, start: int, end: int, kind: StructureKind, rules: StructureRules, colon: bool = False
) -> list[tuple[Item, Item | None]]:
    """The items of a multi-valued span, each with the item it is compared with ("A vs B").

    A part longer than ``max_words`` is prose and is skipped whole (not split on "and").
    """
    out: list[tuple[Item, Item | None]] = []
    for s, e in split_segments(doc[start:end], start, split_and=False, colon=colon):
        if len(doc[s:e].split()) > rules.max_words + 2:
            continue
        parts = _split_and(doc, s, e) if kind.split_and else [(s, e)]
        for ps, pe in parts:
            pair = split_versus(doc, ps, pe)
            found = [clean_item(doc, a, b, rules, kind.split_and) for a, b in pair]
            if len(found) == 2 and found[0] and found[1]:
                out += [(found[0], found[1]), (found[1], None)]
            else:
                out += [(it, None) for it in found if it is not None]
    return out
