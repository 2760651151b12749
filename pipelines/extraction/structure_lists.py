"""Headings, bullet lists and ``Label: a, b, c`` lines.

A heading either names an entity (``## Course: Machine Learning Specialization``), names the kind
of what is listed under it (``### Tools used``, ``## Topics covered in X``) or neither; a section
lasts until the next heading of the same or a higher level and inherits its parent's entity.
A ``Label: a, b`` line (or ``Label:`` followed by a bullet list) lists items of the label's kind.
Relations are emitted only where the ontology has a rule for (scope kind, item kind): the
layout must say what the relation is, so a plain bullet under ``## Course: X`` relates to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kg.ontology import StructureKind
from pipelines.extraction.structure import Collector, Line, Placed
from pipelines.extraction.structure_text import clean_item, items_in
from pipelines.extraction.structure_vocab import kind_of, looks_like_prose, only_kind_words, words

_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^ {0,3}(={3,}|-{3,})\s*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+•▪●◦‣]|\d{1,3}[.)])\s+(?=\S)")
_LABEL = re.compile(r"(?P<label>[^:\n]{1,60}?)\s*:(?!//)\s*(?P<value>.*)$")
_SCOPED = re.compile(r"^(?P<label>.+?)\s+(?:in|from|of|for)\s+(?P<name>.+)$", re.IGNORECASE)
_SUBTYPE = re.compile(
    r"[*_\s]*(?:(?:the|some|different|main|common|other|several|few|\d+)\s+)*"
    r"(?P<word>[a-z]+)\s+of\s+(?P<x>\S.*?)[*_\s]*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z])")
_DESCRIPTION = re.compile(r"\s+[-–—]\s+|:\s+|\s+=\s+")
_PURPOSE = re.compile(r"\s+(?:for|because|since|which|that|to|so)\s+", re.IGNORECASE)
MAX_LABEL_WORDS = 5


@dataclass
class Label:
    kind: StructureKind
    scope: Placed | None = None  # "Topics covered in X": X
    subtype: bool = False  # "Types of X": each item is a kind of X (the scope)


@dataclass
class Section:
    level: int
    scope: Placed | None = None
    kind: StructureKind | None = None
    subtype: bool = False


@dataclass
class _State:
    sections: list[Section] = field(default_factory=lambda: [Section(0)])
    record: list[tuple[StructureKind, list[Placed], tuple[int, int]]] = field(default_factory=list)
    pending: tuple[Label, int, bool] | None = None  # a "Label:" waiting for its bullets
    list_shape: tuple[int, bool] | None = None  # (indent, numbered) of the section's list
    keep_record: bool = False  # the line was a "Key: value" of no kind, inside a record

    @property
    def scope(self) -> Placed | None:
        return next((s.scope for s in reversed(self.sections) if s.scope is not None), None)


def _label_kind(collector: Collector, label: str, strict: bool) -> StructureKind | None:
    """The kind a label names: only kind words and filler, or (not strict) a kind head noun."""
    ws = label.split()
    if not ws or len(ws) > MAX_LABEL_WORDS or re.search(r"\d", label):
        return None
    kind = kind_of(label, collector.rules)
    if kind is None:
        return None
    if only_kind_words(label, kind):
        return kind
    last = words(label)[-1:]
    keyword_words = {w for kw in kind.keywords for w in words(kw)[-1:]}
    return kind if not strict and last and last[0] in keyword_words else None


def parse_label(
    collector: Collector, start: int, end: int, strict: bool, source: str
) -> Label | None:
    """The kind a label or heading lists, and the entity it scopes when it names one."""
    text = collector.text[start:end].strip(" *_#")
    subtype = _subtype_label(collector, start, end, source)
    if subtype is not None:
        return subtype
    kind = _label_kind(collector, text, strict)
    if kind is not None:
        return Label(kind)
    m = _SCOPED.match(collector.text[start:end])
    if not m:
        return None
    kind = _label_kind(collector, m.group("label"), strict=True)
    if kind is None:
        return None
    item = clean_item(collector.text, start + m.start("name"), end, collector.rules)
    if item is None:
        return Label(kind)
    named = kind_of(item.name, collector.rules)
    by_name = {k.name: k for k in collector.rules.kinds}
    heads = [by_name[r.head] for r in collector.rules.relations if r.tail == kind.name]
    head = named if named in heads else (heads[0] if heads else None)
    if head is None:
        return Label(kind)
    placed = collector.place(item, head)
    return Label(kind, placed if collector.entity(placed, source) else None)


def _subtype_label(collector: Collector, start: int, end: int, source: str) -> Label | None:
    """A label like "Types of autoencoders" or "Different kinds of X": items are kinds of X."""
    rules = collector.rules
    m = _SUBTYPE.match(collector.text, start, end)
    if not m or not rules.subtype_labels or words(m.group("word"))[0] not in rules.subtype_labels:
        return None
    x_end = end
    cut = re.search(r"\s+(?:in|for|within|used in|on)\s+", collector.text[m.start("x") : end])
    if cut:  # "Types of layers in CNN" lists kinds of layers
        x_end = m.start("x") + cut.start()
    item = clean_item(collector.text, m.start("x"), x_end, rules)
    if item is None:
        return None
    fallback = collector.ontology.fallback_entity_type
    kind = StructureKind(name="_subtype", type=fallback, keywords=[])
    placed = collector.place(item, None)
    if not collector.entity(placed, source):
        return None
    return Label(kind, placed, subtype=True)


def _value_end(text: str, start: int, end: int) -> int:
    """A label's value ends at the first sentence end: what follows is prose about it."""
    m = _SENTENCE_END.search(text, start, end)
    return m.start() if m else end


def _list_items(
    collector: Collector, kind: StructureKind, start: int, end: int
) -> list[tuple[Placed, Placed | None]]:
    """Items of a label value or bullet; nothing when any part of it is prose."""
    text = collector.text
    if looks_like_prose(text[start:end], collector.rules.max_words, title=not kind.split_and):
        return []
    out = []
    for item, versus in items_in(text, start, end, kind, collector.rules, colon=False):
        p = collector.place(item, kind)
        out.append((p, collector.place(versus, kind) if versus else None))
    return out


def _emit(
    collector: Collector,
    subject: Placed | None,
    kind: StructureKind,
    found: list[tuple[Placed, Placed | None]],
    line: tuple[int, int],
    extractor: str,
    subtype: bool = False,
) -> list[Placed]:
    placed = []
    rel = collector.rule(subject.kind, kind) if subject is not None else None
    for p, versus in found:
        if not collector.entity(p, extractor):
            continue
        placed.append(p)
        collector.item_extras(p, extractor, line)
        if versus is not None:
            collector.compared(p, versus, extractor, line)
        span = (p.item.start, p.item.end)
        if subject is not None and subtype:
            sub = collector.rules.subtype_relation
            collector.relation(p, sub, subject, [line, span], extractor)
        elif subject is not None and rel is not None:
            collector.relation(subject, rel, p, [line, span], extractor)
    return placed


def _heading(collector: Collector, state: _State, level: int, start: int, end: int) -> None:
    while state.sections[-1].level >= level:
        state.sections.pop()
    parent = state.scope
    section = Section(level)
    text = collector.text
    m = _LABEL.match(text, start, end)
    if m and m.group("value").strip():
        kind = _label_kind(collector, m.group("label"), strict=False)
        if kind is not None:  # "## Course: X"
            found = _list_items(collector, kind, m.start("value"), end)
            placed = _emit(collector, parent, kind, found, (start, end), "heading")
            if len(placed) == 1:
                section.scope = placed[0]
            state.sections.append(section)
            return
    label = parse_label(collector, start, end, strict=True, source="heading")
    if label is not None:
        section.kind, section.scope, section.subtype = label.kind, label.scope, label.subtype
    state.sections.append(section)


def _bullet_item(
    collector: Collector, kind: StructureKind, start: int, end: int
) -> tuple[int, int]:
    """A bullet under a kind names its item first: "PyTorch – for training" is PyTorch.

    Names of multi-valued kinds also end before a purpose ("W&B for tracking"); titles do not
    ("Practical Deep Learning for Coders").
    """
    m = _DESCRIPTION.search(collector.text, start, end)
    end = m.start() if m else end
    if kind.split_and:
        m = _PURPOSE.search(collector.text, start, end)
        end = m.start() if m else end
    return start, end


def _label_line(
    collector: Collector, state: _State, start: int, end: int, line: tuple[int, int]
) -> bool:
    m = _LABEL.match(collector.text, start, end)
    if not m:
        return False
    label = parse_label(collector, m.start("label"), m.end("label"), strict=False, source="list")
    if label is None:  # "Date: …", "Source: …" inside a record keep the record going
        state.keep_record = len(m.group("label").split()) <= 2 and bool(m.group("value").strip())
        return False
    v_start, v_end = m.start("value"), _value_end(collector.text, m.start("value"), end)
    if not collector.text[v_start:v_end].strip():
        state.pending = (label, -1, False)
        return True
    found = _list_items(collector, label.kind, v_start, v_end)
    line = (line[0], v_end)
    subject = label.scope
    if subject is None:  # a record: "Course: X" then "Topics: a, b"
        for kind, items, _ in state.record:
            if len(items) == 1 and collector.rule(kind, label.kind):
                subject = items[0]
    subject = subject or state.scope
    placed = _emit(collector, subject, label.kind, found, line, "list", label.subtype)
    if len(placed) == 1:  # a single item may be the subject of later record lines
        for kind, items, span in state.record:
            rel = collector.rule(label.kind, kind)
            if rel:
                for t in items:
                    collector.relation(placed[0], rel, t, [(span[0], line[1]), line], "list")
    state.record.append((label.kind, placed, line))
    return True


def _list_head(
    collector: Collector, state: _State, lines: list[Line], n: int, start: int, end: int
) -> None:
    """A short line right above a list names it like a label ("Types of autoencoders")."""
    text = collector.text[start:end]
    following = [ln for ln in lines[n + 1 : n + 3] if not ln.blank][:1]
    if (
        len(text.split()) > MAX_LABEL_WORDS + 1
        or text.rstrip()[-1:] in ".,;!?"
        or not following
        or _BULLET.match(following[0].text) is None
        or following[0].index - lines[n].index > 2
    ):
        return
    label = parse_label(collector, start, end, strict=True, source="list")
    if label is not None:
        state.pending = (label, -1, False)


def _list_item(
    collector: Collector,
    state: _State,
    label: Label | Section,
    line: tuple[int, int],
    start: int,
    end: int,
    extractor: str,
) -> None:
    """One bullet of a list whose kind a label or heading named."""
    assert label.kind is not None
    s, e = _bullet_item(collector, label.kind, start, end)
    found = _list_items(collector, label.kind, s, e)
    subject = label.scope or (None if label.subtype else state.scope)
    _emit(collector, subject, label.kind, found, line, extractor, label.subtype)


def extract_sections(collector: Collector, lines: list[Line], skip: set[int]) -> None:
    """Run the heading, bullet and label rules over the lines outside tables and code."""
    state = _State()
    for n, ln in enumerate(lines):
        if ln.code or ln.index in skip:
            state.record, state.pending = [], None
            continue
        if ln.blank:
            state.record = []
            continue
        line = (ln.start + len(ln.text) - len(ln.text.lstrip()), ln.start + len(ln.text.rstrip()))
        nxt = lines[n + 1] if n + 1 < len(lines) else None
        atx = _ATX.match(ln.text)
        setext = (
            nxt is not None
            and nxt.index not in skip
            and not nxt.code
            and _SETEXT.match(nxt.text)
            and not _BULLET.match(ln.text)
        )
        if atx or setext:
            state.record, state.pending, state.list_shape = [], None, None
            if atx:
                level, start = len(atx.group(1)), ln.start + atx.start(2)
                end = ln.start + atx.end(2)
            else:
                level, (start, end) = (1 if nxt.text.strip()[0] == "=" else 2), line
            if end > start:
                _heading(collector, state, level, start, end)
            continue
        if _SETEXT.match(ln.text) and n > 0 and _ATX.match(lines[n - 1].text) is None:
            continue  # the underline of a setext heading (or a rule)
        bullet = _BULLET.match(ln.text)
        start = ln.start + (bullet.end() if bullet else len(ln.text) - len(ln.text.lstrip()))
        end = line[1]
        state.keep_record = False
        if _label_line(collector, state, start, end, line):
            continue
        if not state.keep_record:
            state.record = []
        if bullet is None:
            state.pending = None
            _list_head(collector, state, lines, n, start, end)
            continue
        shape = (len(bullet.group(1).expandtabs(4)), bullet.group(0).strip()[0].isdigit())
        if state.pending is not None:
            label, base, numbered = state.pending
            if base < 0:
                state.pending = (label, *shape)
                base, numbered = shape
            if shape == (base, numbered):
                _list_item(collector, state, label, line, start, end, "list")
            continue
        section = state.sections[-1]
        if section.kind is not None:
            if state.list_shape is None or shape[0] < state.list_shape[0]:
                state.list_shape = shape
            if shape == state.list_shape:
                _list_item(collector, state, section, line, start, end, "heading")
