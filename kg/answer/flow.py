"""One flow: Question -> context -> candidates -> choice -> cited Answer.

``Sources`` is what the flow needs from the workspace (chunks, paths, mentions, summaries, a
fact lookup by entity name and a second retrieval); app.service.KG provides it. Paths:
``candidates`` (no LLM: the best-ranked candidate and its sentence), ``choice`` (the LLM picks
a candidate and passage by number) and ``sentence`` (it also writes one sentence that must
contain the chosen candidate). The stream yields the chosen answer's text as soon as it is
known, then the final Answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kg.answer import bridge, candidates, choose, compose
from kg.answer.candidates import Candidate, Mention
from kg.answer.context import Passage, build_context
from kg.answer.question import Question
from kg.models import Answer, GraphFact, SearchHit

PATHS = ("candidates", "choice", "sentence")
MAX_FACTS_SHOWN = 8
SECOND_HOP_K = 3


class Sources(Protocol):
    chunks: Mapping[str, Any]
    paths: Mapping[str, str]
    summaries: Sequence[Any]
    mentions: Mapping[str, Sequence[Mention]]
    ontology: Any

    def facts_of(self, name: str) -> list[GraphFact]: ...

    def search(self, query: str, k: int) -> list[SearchHit]: ...


@dataclass
class Plain:
    """Sources from hits alone (tests, callers without a workspace)."""

    chunks: Mapping[str, Any] = field(default_factory=dict)
    paths: Mapping[str, str] = field(default_factory=dict)
    summaries: Sequence[Any] = ()
    mentions: Mapping[str, Sequence[Mention]] = field(default_factory=dict)
    ontology: Any = None

    def facts_of(self, name: str) -> list[GraphFact]:
        return []

    def search(self, query: str, k: int) -> list[SearchHit]:
        return []


def answer(question: Question, hits: list[SearchHit], facts: list[GraphFact], chat: Any = None,
           sources: Sources | None = None, path: str = "sentence") -> Answer:  # fmt: skip
    final: Answer | None = None
    for item in stream_answer(question, hits, facts, chat, sources, path):
        if isinstance(item, Answer):
            final = item
    assert final is not None  # stream_answer always ends with an Answer
    return final


def stream_answer(question: Question, hits: list[SearchHit], facts: list[GraphFact],
                  chat: Any = None, sources: Sources | None = None, path: str = "sentence"
                  ) -> Iterator[str | Answer]:  # fmt: skip
    """The chosen answer's text as soon as it is known, then the Answer."""
    src = sources or Plain()
    started = time.perf_counter()
    passages = build_context(question, hits, facts, src.chunks, src.summaries, src.paths,
                             similarity=getattr(src, "similarity", None))  # fmt: skip
    ranked = _ranked(question, passages, facts, src)
    hop_facts: list[GraphFact] = []
    bridged: Passage | None = None
    if (
        ranked
        and question.expects_entity()
        and not question.soft
        and bridge.needs_bridge(question, ranked)
    ):
        passages, ranked, hop_facts, bridged = _second_hop(question, passages, ranked, facts, src)
    timings = {"candidates_s": round(time.perf_counter() - started, 4)}
    used_facts = _facts_used(passages, [*facts, *hop_facts], ranked[:1])
    if not passages or not ranked:
        yield Answer(question=question.text, answer=compose.NOT_IN_CORPUS, facts=used_facts,
                     timings=timings, selected_by="none")  # fmt: skip
        return
    best = ranked[0]
    extra = _other_parts(question, passages, facts, src, best) if question.compound else []
    if chat is None or path == "candidates":
        yield _final(question, best, passages, bridged, used_facts, "candidates", "", timings,
                     ["no LLM: the best-ranked candidate and the sentence that states it"]
                     if chat is None and path != "candidates" else [], extra)  # fmt: skip
        return
    shown, order = choose.shown(ranked, passages)
    warnings: list[str] = []
    picked: choose.Choice | None = None
    announced = False
    for picked in choose.choose(chat, question, shown, passages, order, path == "sentence"):
        if picked.early and 1 <= picked.candidate <= len(shown):
            announced = True
            yield shown[picked.candidate - 1].text  # the choice, before its sentence is written
    assert picked is not None
    timings.update(picked.usage)
    if picked.error is not None:  # (a failed call's tokens still count in the timings)
        warnings.append(f"{picked.error}; the ranking's choice")
        yield _final(question, best, passages, bridged, used_facts, "candidates (LLM failed)",
                     "", timings, warnings, extra)  # fmt: skip
        return
    if not 1 <= picked.candidate <= len(shown):
        yield _final(question, best, passages, bridged, used_facts,
                     "candidates (the LLM chose none)", "", timings, warnings, extra)  # fmt: skip
        return
    chosen = shown[picked.candidate - 1]
    if not announced:
        yield chosen.text
    sentence, how = picked.sentence.strip(), "llm-choice"
    if path == "sentence":
        if sentence and chosen.text.lower() in " ".join(sentence.lower().split()):
            how = "llm-choice+sentence"
        elif picked.cut:
            how, sentence = "llm-choice (its sentence was cut at the token cap)", ""
        else:
            how, sentence = "llm-choice (its sentence lacked the candidate)", ""
    yield _final(
        question, chosen, passages, bridged, used_facts, how, sentence, timings, warnings, extra
    )


# ---------------------------------------------------------------- internals


def _ranked(question: Question, passages: Sequence[Passage], facts: Sequence[GraphFact],
            src: Sources) -> list[Candidate]:  # fmt: skip
    found = candidates.extract(passages, src.mentions, facts, src.ontology)
    return candidates.score(question, found, passages, facts)


def _second_hop(
    question: Question,
    passages: list[Passage],
    ranked: list[Candidate],
    facts: list[GraphFact],
    src: Sources,
) -> tuple[list[Passage], list[Candidate], list[GraphFact], Passage | None]:
    """Passages reached from the bridge entities (their facts, then a seeded retrieval);
    the answer is ranked again over both hops."""
    hop_facts: list[GraphFact] = []
    more: list[Passage] = []
    via: dict[int, Passage] = {}
    for b in bridge.bridges(question, ranked, passages):
        first = passages[b.passage]
        got = [f for f in src.facts_of(b.text) if f not in facts and f not in hop_facts]
        hop_facts += got[:4]
        hits = src.search(bridge.seeded_query(question, b, first), SECOND_HOP_K)
        extra = build_context(question.model_copy(update={"terms": sorted(
            question.term_set | set(_terms(b.text)))}), hits, got[:4], src.chunks, (),
            src.paths, limit=4, hop=2)  # fmt: skip
        for p in extra:
            if not any(p.doc_id == q.doc_id and p.start == q.start for q in passages + more):
                via[len(passages) + len(more)] = first
                more.append(p)
    if not more:
        return passages, ranked, hop_facts, None
    merged = passages + more
    reranked = _ranked(question, merged, [*facts, *hop_facts], src)
    best = reranked[0] if reranked else None
    if best is None or best.features.get("type", 0) < 1.0 or best.passage not in via:
        if best is not None and best.passage in via:
            return merged, reranked, hop_facts, via[best.passage]
        return (
            (merged, reranked, hop_facts, None)
            if best is not None
            else (passages, ranked, hop_facts, None)
        )
    return merged, reranked, hop_facts, via[best.passage]


def _terms(text: str) -> set[str]:
    from kg.answer.words import terms

    return terms(text)


def _other_parts(question: Question, passages: Sequence[Passage], facts: Sequence[GraphFact],
                 src: Sources, chosen: Candidate) -> list[Candidate]:  # fmt: skip
    """For a compound question: the best candidate of each later part, over the same passages."""
    from kg.answer.question import analyse

    out: list[Candidate] = []
    for part in question.parts()[1:]:
        sub = analyse(part, src.ontology).model_copy(update={"entities": question.entities})
        rescored = _rescored(sub, passages)
        ranked = candidates.score(
            sub, candidates.extract(rescored, src.mentions, facts, src.ontology), rescored, facts
        )
        best = next((c for c in ranked if c.text.lower() != chosen.text.lower()), None)
        if best is not None:
            out.append(best)
    return out


def _rescored(question: Question, passages: Sequence[Passage]) -> list[Passage]:
    """The passages scored again for another (sub-)question: idf weight of its terms."""
    from dataclasses import replace

    from kg.answer.words import idf

    weights = idf([p.said for p in passages] or [set()])
    q = question.term_set
    return [replace(p, score=sum(weights.get(t, 1.0) for t in p.said & q)) for p in passages]


def _final(question: Question, chosen: Candidate, passages: Sequence[Passage],
           bridged: Passage | None, facts: list[GraphFact], how: str, sentence: str,
           timings: dict[str, float], warnings: list[str],
           extra: Sequence[Candidate] = ()) -> Answer:  # fmt: skip
    first = passages[chosen.passage]
    cited = [first]
    if bridged is not None and bridged is not first:
        cited.append(bridged)
    named = [chosen.text]
    for c in extra:
        p = passages[c.passage]
        if p is not first and p not in cited:
            cited.append(p)
        named.append(c.text)
    lead = "; ".join(dict.fromkeys(named))
    if sentence:  # the model's sentence, then the note's sentence that states it
        text = f"{sentence.rstrip()} — *{first.text}* [1]"
    else:
        text = compose.quoted(None if lead == chosen.text and len(chosen.text) >= 0.8 * len(
            first.text) else _Named(lead), first, 1)  # fmt: skip
    text += "".join(f" *{p.text}* [{n}]" for n, p in enumerate(cited[1:], 2))
    kinds = [how] + ["bridge" if bridged is not None else "second part"] * (len(cited) - 1)
    citations = [
        compose.citation(n, p, k) for n, (p, k) in enumerate(zip(cited, kinds, strict=True), 1)
    ]
    warnings = list(warnings)
    if not compose.supported(chosen.text, cited):
        warnings.append(compose.NO_SUPPORT)
    return Answer(question=question.text, answer=text, citations=citations, facts=facts,
                  warnings=warnings, timings=dict(timings), selected_by=how,
                  candidate=chosen.text, hops=2 if bridged is not None else 1)  # fmt: skip


@dataclass
class _Named:
    text: str


def _facts_used(passages: Sequence[Passage], facts: Sequence[GraphFact],
                chosen: Sequence[Candidate]) -> list[GraphFact]:  # fmt: skip
    """The facts whose sentences are in the context, and those naming the chosen answer."""
    out = [p.fact for p in passages if p.fact is not None]
    names = {c.text.lower() for c in chosen}
    out += [f for f in facts if f.head.lower() in names or f.tail.lower() in names]
    unique: list[GraphFact] = []
    for f in out:
        if f not in unique:
            unique.append(f)
    return unique[:MAX_FACTS_SHOWN]
