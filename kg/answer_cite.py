"""Citations that support the answer, and the extractive answer used without an LLM.

A cited passage supports the answer when it states the answer's key terms (the words the answer
adds to the question) or is the sentence of a graph fact the answer names. Small models often
cite nothing, or a neighbouring source; then the passages that state most of the key terms are
cited instead, and the citation says so (``selected_by="overlap"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kg.answer_context import Passage
from kg.answer_text import clip, key_terms, terms
from kg.models import Citation

SNIPPET_CHARS = 240
SUPPORT_MIN = 0.5  # share of the answer's key terms the cited passages must state
EXTRACTIVE_MAX = 3  # passages quoted by an extractive answer
EXTRACTIVE_MIN = 0.4  # ... each scoring at least this share of the best one
_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def cited_numbers(text: str, n_sources: int) -> list[int]:
    """Source numbers cited in the text, in order of first citation, within 1..n_sources."""
    seen: list[int] = []
    for match in _CITE.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= n_sources and n not in seen:
                seen.append(n)
    return seen


def strip_invalid(text: str, n_sources: int) -> str:
    """Drop citation markers that point at no source."""

    def keep(m: re.Match[str]) -> str:
        ok = all(1 <= int(p) <= n_sources for p in m.group(1).split(","))
        return m.group(0) if ok else ""

    return _CITE.sub(keep, text).strip()


def strip_markers(text: str) -> str:
    return _CITE.sub("", text)


def citation(n: int, p: Passage, selected_by: str = "model") -> Citation:
    return Citation(
        n=n,
        chunk_id=p.chunk_id,
        doc_id=p.doc_id,
        path=p.path,
        start=p.start,
        end=p.end,
        snippet=clip(p.text, SNIPPET_CHARS),
        text=p.chunk_text or p.text,
        selected_by=selected_by,
    )


def supports(p: Passage, answer: str, wanted: set[str]) -> set[str]:
    """The key terms ``p`` states: in its text, or (a fact's sentence) in the fact's names."""
    said = terms(p.text)
    if p.fact is not None:
        said |= terms(f"{p.fact.head} {p.fact.tail}")
    return wanted & said


def choose_citations(
    question: str, text: str, passages: Sequence[Passage]
) -> tuple[str, list[Citation], list[str]]:
    """The answer text (markers renumbered), its citations and any warning.

    Keeps the model's citations that state some key term; adds, by most new key terms stated,
    passages until the cited ones state ``SUPPORT_MIN`` of them (or nothing more helps)."""
    plain = _CITE.sub("", text)
    wanted = key_terms(plain, question)
    cited = cited_numbers(text, len(passages))
    covered: set[str] = set()
    kept: list[int] = []
    for n in cited:
        got = supports(passages[n - 1], plain, wanted)
        if got - covered or (not wanted and not kept):
            kept.append(n)
            covered |= got
    added: list[int] = []
    while wanted and len(covered) < SUPPORT_MIN * len(wanted):
        gains = [
            (len(supports(p, plain, wanted) - covered), -i)
            for i, p in enumerate(passages)
            if i + 1 not in kept and i + 1 not in added
        ]
        if not gains or max(gains)[0] == 0:
            break
        best = -max(gains)[1] + 1
        added.append(best)
        covered |= supports(passages[best - 1], plain, wanted)
    warnings: list[str] = []
    if not kept and not added and passages:  # nothing states the answer: the closest one
        scores = [len(terms(p.text) & terms(plain)) for p in passages]
        added = [scores.index(max(scores)) + 1]
        warnings.append("no source states the answer's terms; cited the closest passage")
    elif wanted and len(covered) < SUPPORT_MIN * len(wanted):
        warnings.append("the cited sources state only part of the answer")
    text = _renumber(text, set(cited) - set(kept), added)
    cites = [citation(n, passages[n - 1], "model") for n in kept]
    cites += [citation(n, passages[n - 1], "overlap") for n in added]
    return text, cites, warnings


def extractive(question: str, passages: Sequence[Passage]) -> tuple[str, list[Citation]]:
    """The passages that best match the question (by their idf-weighted score), each adding
    question terms the ones before it lack, each cited: an answer without an LLM."""
    q = terms(question)
    ranked = sorted(
        (p for p in passages if q & terms(p.text) or p.kind == "summary"),
        key=lambda p: -p.score,
    )
    if not ranked:
        return "", []
    top = max(ranked[0].score, 1e-9)
    best: list[Passage] = []
    seen: set[str] = set()
    for p in ranked:
        new = (q & terms(p.text)) - seen
        if best and p.score < EXTRACTIVE_MIN * top:
            continue
        best.append(p)
        seen |= new
        if len(best) == EXTRACTIVE_MAX:
            break
    number = {id(p): n for n, p in enumerate(passages, 1)}
    lines = [f"{clip(p.text, 400)} [{number[id(p)]}]" for p in best]
    cites = [citation(number[id(p)], p, "extractive") for p in best]
    return " ".join(lines), sorted(cites, key=lambda c: c.n)


def question_coverage(question: str, p: Passage) -> float:
    """Share of the question's terms a passage states (to doubt a "not in the corpus")."""
    q = terms(question)
    return len(q & terms(p.text)) / len(q) if q else 0.0


def _renumber(text: str, dropped: set[int], added: list[int]) -> str:
    """Replace markers of dropped sources by the added ones (in order), append the rest."""
    queue = list(added)

    def fix(m: re.Match[str]) -> str:
        nums = [int(x) for x in m.group(1).split(",")]
        out = [n for n in nums if n not in dropped]
        if len(out) < len(nums) and queue:
            out.append(queue.pop(0))
        return f"[{', '.join(map(str, out))}]" if out else ""

    text = _CITE.sub(fix, text).strip()
    if queue:
        text = re.sub(r"\s+([.!?])$", r"\1", text)
        text = f"{text} " + "".join(f"[{n}]" for n in queue)
    return re.sub(r"\s+([.,;!?])", r"\1", text).strip()
