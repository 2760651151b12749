"""The words structure rules know: how headers name kinds, and which names are junk.

Only general vocabulary lives here (pronouns, dates, generic nouns, verbs of the note-taker);
which header words name which kind comes from the ontology's ``structure:`` section.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kg.ontology import StructureKind, StructureRules
from kg.text import singular
from kg.text import words as text_words

_PREPOSITIONS = {"of", "in", "for", "from", "with", "by", "on", "at", "to"}
# words a heading or label may hold besides kind keywords and still only name a kind
# ("Topics covered", "What I learned", "Key concepts", "Tools used")
_FILLER = {
    "the", "a", "an", "and", "or", "&", "my", "i", "we", "what", "key", "main", "used", "covered",
    "learned", "related", "other", "additional", "recommended", "useful", "important", "new",
    "list", "some", "today", "today's", "this", "week's", "were", "was", "are", "is", "we've",
    "i've", "discussed", "mentioned", "studied", "read", "you", "compared", "tried", "use", "using",
}
PRONOUNS = {
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
DONE_VERBS = {
    "implemented", "created", "built", "made", "used", "learned", "learnt", "revised", "studied",
    "applied", "completed", "finished", "started", "watched", "did", "tried", "wrote", "trained",
    "tested", "explored", "reviewed", "practiced", "practised", "continued", "covered", "read",
}


def words(text: str) -> list[str]:
    """Lower-case words, singularised: enough to match header words to keywords."""
    return list(_words(text))


@lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    return tuple(singular(w) for w in text_words(text))


@lru_cache(maxsize=64)
def _keyword_index(kinds: tuple[tuple[str, tuple[str, ...]], ...]):
    """Each kind's keywords as word tuples, in rank order (cached per ontology)."""
    return [(rank, name, [_words(kw) for kw in kws]) for rank, (name, kws) in enumerate(kinds)]


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


def is_label_words(name: str, rules: StructureRules) -> bool:
    """A label ("Resources", "Topics covered") standing where a name should be."""
    kind = kind_of(name, rules)
    return kind is not None and only_kind_words(name, kind)


def suffix_type(name: str, rules: StructureRules) -> str | None:
    """The type a name's last word implies ("Hugging Face NLP course" is a Course)."""
    ws = words(name)
    if len(ws) < 2:
        return None
    for kind in rules.kinds:
        if ws[-1] in {singular(s.lower()) for s in kind.suffixes}:
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
    if first in PRONOUNS or first in _QUESTION or any(w in {"i", "we", "my", "our"} for w in ws):
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


def looks_like_prose(text: str, max_words: int, title: bool = False) -> bool:
    """A value that is a sentence, not a list of names: a long part, a verb, a leading article.

    A ``title`` ("The Hundred-Page Machine Learning Book") may start with an article.
    """
    parts = re.split(r"[,;]", text)
    if any(len(p.split()) > max_words for p in parts):
        return True
    ws = [w.strip(".,;:!?()\"'“”").lower() for w in text.split()]
    if any(w in _VERBS for w in ws) or any(w in {"i", "we", "you"} for w in ws):
        return True
    leads = {"this", "it", "there"} if title else {"the", "a", "an", "this", "it", "there"}
    return bool(ws) and ws[0] in leads and len(ws) >= 4
