"""Turning the text of a table cell, list item or label value into entity names with exact spans.

Structure rules see raw markdown (``**PyTorch**``, ``[PCA](https://…)``, ``1. Deep Learning``,
``Convolution Neural Network(CNN)``); the entity name drops that markup while the span stays on
the document, so that ``document.text[start:end]`` is always the mention text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from kg.ontology import StructureKind, StructureRules

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_PREPOSITIONS = {"of", "in", "for", "from", "with", "by", "on", "at", "to"}
# words a heading or label may hold besides kind keywords and still only name a kind
# ("Topics covered", "What I learned", "Key concepts", "Tools used")
_FILLER = {
    "the", "a", "an", "and", "or", "&", "my", "i", "we", "what", "key", "main", "used", "covered",
    "learned", "related", "other", "additional", "recommended", "useful", "important", "new",
    "list", "some", "today", "today's", "this", "week's", "were", "was", "are", "is", "we've",
    "i've", "discussed", "mentioned", "studied", "read", "you", "compared", "tried", "use", "using",
}
_PRONOUNS = {
    "i", "we", "you", "he", "she", "it", "they", "me", "us", "him", "her", "them", "my", "our",
    "your", "its", "their", "this", "that", "these", "those", "i'm", "i've", "we're", "it's",
}
_FUNCTION_WORDS = {
    "the", "a", "an", "to", "of", "it", "this", "that", "get", "got", "thing", "things", "stuff",
    "some", "any", "all", "very", "really", "just", "so", "not", "no", "on", "in", "at", "up",
}
_QUESTION = {"how", "why", "what", "when", "where", "which", "who"}
# a name has no finite verb of its own: "it is slow", "we can use" are prose
_VERBS = {
    "is", "are", "was", "were", "be", "been", "has", "have", "had", "can", "will", "should",
    "would", "does", "do", "did", "could", "may", "might", "must",
}
# words that are never a name on their own, however a note capitalises them
_GENERIC = {
    "introduction", "intro", "overview", "implementation", "implementations", "basics", "revision",
    "lab", "labs", "notes", "note", "summary", "misc", "miscellaneous", "other", "others", "etc",
    "example", "examples", "continued", "review", "recap", "practice", "exercise", "exercises",
    "homework", "quiz", "todo", "done", "none", "n/a", "na", "tbd", "yes", "no", "more",
    "general", "usecase", "use case", "theory", "code", "demo", "project", "course", "book",
    "slides", "lecture slides", "lecture notes", "video", "videos", "recording", "nothing",
    "training", "selection", "evaluation", "testing", "learning", "analysis", "prediction", "data",
    "model", "models", "algorithm", "algorithms", "method", "methods", "things",
}
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|"
    "july|august|september|october|november|december"
)
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun"
_ORDINAL_LABEL = re.compile(
    r"^(?:day|week|month|year|lecture|lesson|chapter|session|part|module|unit|episode|step|lab|"
    r"section|exercise|assignment|video|class|page|ch|ep|wk)\s*[#.:-]?\s*\d+[a-z]?"
    r"(?:\s*(?:-|–|to|&|and)\s*\d+)?(?:\s+(?:video|videos|lecture|notes|slides|recording|lab|quiz|"
    r"homework|assignment|exercises?))?$",
    re.IGNORECASE,
)
_DATE = re.compile(
    rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\b|"
    rf"^(?:{_WEEKDAYS})$|\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b",
    re.IGNORECASE,
)
_NUMBERISH = re.compile(
    r"^[\d\s.,:;%/+\-–×x~$€£()]*(?:k|m|b|ms|s|sec|min|mins|minutes|h|hr|hrs|hours|days?|weeks?|"
    r"px|mb|gb|kb|%|pts?|points)?[\s.]*$",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://|www\.|\S+@\S+\.\w+|^\S+\.(?:com|org|io|net|ai|edu)(?:/\S*)?$", re.I)
_LINK = re.compile(r"^\[([^\]]+)\]\([^)]*\)$")
_LIST_MARKER = re.compile(r"^(?:[-*+•▪●◦‣]\s+|\d{1,3}[.)]\s*(?=\D)|[a-z][.)]\s+)")
_EDGE_JUNK = " \t\"'“”‘’.,;:!?-–—=>*_`~"
_WRAPPERS = ("**", "__", "*", "_", "`", "~~", '"', "“", "'")
_DONE_VERBS = {
    "implemented", "created", "built", "made", "used", "learned", "learnt", "revised", "studied",
    "applied", "completed", "finished", "started", "watched", "did", "tried", "wrote", "trained",
    "tested", "explored", "reviewed", "practiced", "practised", "continued", "covered", "read",
}
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


def words(text: str) -> list[str]:
    """Lower-case words, singularised naively: enough to match header words to keywords."""
    return list(_words(text))


@lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    return tuple(_singular(w) for w in _WORD.findall(text.lower()))


@lru_cache(maxsize=64)
def _keyword_index(kinds: tuple[tuple[str, tuple[str, ...]], ...]):
    """Each kind's keywords as word tuples, in rank order (cached per ontology)."""
    return [(rank, name, [_words(kw) for kw in kws]) for rank, (name, kws) in enumerate(kinds)]


def _singular(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def _has_phrase(ws: list[str], phrase: list[str]) -> int:
    """The index after the last occurrence of ``phrase`` in ``ws``, or -1."""
    n = len(phrase)
    hits = [i + n for i in range(len(ws) - n + 1) if ws[i : i + n] == phrase]
    return hits[-1] if hits else -1


def kind_of(text: str, rules: StructureRules) -> StructureKind | None:
    """The kind a header or label names: the keyword nearest the end of its head phrase.

    English puts the head noun last ("Course Topics" lists topics) but before a preposition
    ("Topics of the course" lists topics too), so the words after the first preposition are only
    looked at when the words before it name nothing.
    """
    ws = list(_words(text))
    if not ws:
        return None
    cut = next((i for i, w in enumerate(ws) if w in _PREPOSITIONS and i > 0), len(ws))
    index = _keyword_index(tuple((k.name, tuple(k.keywords)) for k in rules.kinds))
    for part in (ws[:cut], ws):
        best: tuple[int, int] | None = None
        vocab = set(part)
        for rank, _, phrases in index:
            for phrase in phrases:
                if phrase and phrase[0] in vocab:
                    pos = _has_phrase(part, list(phrase))
                    if pos >= 0 and (best is None or (pos, -rank) > (best[0], -best[1])):
                        best = (pos, rank)
        if best is not None:
            return rules.kinds[best[1]]
    return None


def only_kind_words(text: str, kind: StructureKind) -> bool:
    """True when ``text`` is nothing but the kind's keywords and filler ("Topics covered")."""
    keyword_words = {w for kw in kind.keywords for w in words(kw)}
    ws = words(text)
    return bool(ws) and all(w in keyword_words or w in _FILLER for w in ws)


def _only_kind_words(name: str, rules: StructureRules) -> bool:
    """"Resources", "Topics covered": a label standing where a name should be."""
    kind = kind_of(name, rules)
    return kind is not None and only_kind_words(name, kind)


def suffix_type(name: str, rules: StructureRules) -> str | None:
    """The type a name's last word implies ("Hugging Face NLP course" is a Course)."""
    ws = words(name)
    if len(ws) < 2:
        return None
    for kind in rules.kinds:
        if ws[-1] in {_singular(s.lower()) for s in kind.suffixes}:
            return kind.type
    return None


def is_junk(name: str, max_words: int) -> bool:
    """Numbers, dates, day labels, URLs, prose, pronouns, questions and generic nouns."""
    text = name.strip()
    low = text.lower()
    ws = low.split()
    if len(text) < 2 or not re.search(r"[^\W\d_]", text):
        return True
    if len(ws) > max_words or text.endswith("?"):
        return True
    if _URL.search(text) or _NUMBERISH.match(text) or _ORDINAL_LABEL.match(text):
        return True
    if _DATE.search(text):
        return True
    first = ws[0].strip("'\"“”(")
    if first in _PRONOUNS or first in _QUESTION or any(w in {"i", "we", "my", "our"} for w in ws):
        return True
    if any(w in _VERBS for w in ws) or re.search(r"[=<>^{}\\]|\+\+", text):
        return True
    if "each other" in low or "one another" in low or first in {"deeper", "further", "more"}:
        return True
    if first in {"none", "see", "nothing", "same", "tbd", "n/a"}:
        return True
    if len(ws) >= 4 and sum(w in _FUNCTION_WORDS for w in ws) * 2 > len(ws):
        return True  # "trying to get the thing to work": mostly function words, prose
    if first in {"a", "an"} and len(ws) >= 3:
        return True
    return low.strip(".") in _GENERIC or (len(text) == 2 and not text.isupper())


def looks_like_prose(text: str, max_words: int) -> bool:
    """A value that is a sentence, not a list of names: a long part, a verb, a leading article."""
    parts = re.split(r"[,;]", text)
    if any(len(p.split()) > max_words for p in parts):
        return True
    ws = [w.strip(".,;:!?()\"'“”").lower() for w in text.split()]
    if any(w in _VERBS for w in ws) or any(w in {"i", "we", "you"} for w in ws):
        return True
    return bool(ws) and ws[0] in {"the", "a", "an", "this", "it", "there"} and len(ws) >= 4


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
        if right[0] in _PRONOUNS:  # "overfitting and its solution"
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
    """"Labs on K-means", "Implementation of PCA", "GAN implementation": the topic only."""
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
        if doc[start:end].split()[:1] and doc[start:end].split()[0].lower() in _DONE_VERBS:
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
    if not name or is_junk(name, rules.max_words) or _only_kind_words(name, rules):
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
