"""The LLM tier: one short, schema-constrained call per chunk that verifies the trained tier.

Each answer is checkpointed in the LLM cache the moment it arrives, so a run stopped by its
budget, by Ctrl-C or by a crash continues where it stopped and never redoes a chunk; a re-run
over an unchanged corpus replays every answer and makes no call. ``apply_verdicts`` maps the
answer's indices back onto the spans the trained tier found.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from kg.llm_cache import LLMCache, cache_key
from kg.models import ChunkVerdicts, Evidence, LLMUsage, Rejected, Relation
from kg.ontology import Ontology
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.verify_prompt import (
    MAX_OUTPUT_TOKENS,
    VERIFY_VERSION,
    VerifyTask,
    build_messages,
    new_relation_names,
    parse_verdicts,
    verdict_schema,
)

EXTRACTOR = "llm"
CONFIRMED = "trained+llm"
CONFIDENCE = {"confirmed": 0.9, "new": 0.65}
# Whether a below-threshold candidate the LLM judges true joins the graph (bench/llm_tier.py
# measures both ways on SciERC dev by replaying the same cached answers).
ACCEPT_CANDIDATES = False
# a "false" removes a trained relation only below this confidence: on SciERC dev (first 20
# abstracts) dropping every relation judged false cost recall (Rel F1 30.7 -> 29.2), dropping
# only those under 0.5 gained a little (30.7 -> 31.0); bench/results/llm_tier.md
DROP_BELOW = 0.5
MAX_EVIDENCE_CHARS = 400


class VerifyClient:
    """Asks (or replays from the cache) one chunk's question; every answer is cached at once."""

    def __init__(
        self, ontology: Ontology, chat: Callable[[], Any], cache: LLMCache | None, model: str
    ) -> None:
        self.ontology = ontology
        self.chat = chat
        self.cache = cache
        self.model = model
        self._system: str | None = None  # the system prompt is part of every answer's key

    def key(self, task: VerifyTask) -> str:
        from pipelines.extraction.verify_prompt import system_prompt, user_prompt

        if self._system is None:
            self._system = system_prompt(self.ontology)
        return cache_key(VERIFY_VERSION, self.model, self._system, user_prompt(task))

    def cached(self, task: VerifyTask) -> dict[str, Any] | None:
        return self.cache.get(self.key(task)) if self.cache is not None else None

    def ask(self, task: VerifyTask) -> dict[str, Any]:
        from kg.llm.client import invoke_json

        t0 = time.perf_counter()
        result = invoke_json(
            self.chat(),
            build_messages(task, self.ontology),
            verdict_schema(task, self.ontology),
            max_tokens=MAX_OUTPUT_TOKENS,
        )
        parsed = result.data.model_dump() if result.data is not None else result.parsed
        entry = {
            "parsed": parsed,
            "error": result.error,
            "usage": result.usage.model_dump(),
            # what the server's prompt cache spared (the static system part, when it works)
            "cached_prompt_tokens": int(getattr(result, "cached_prompt_tokens", 0) or 0),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if self.cache is not None:
            self.cache.put(self.key(task), entry)
        return entry


@dataclass
class PhaseReport:
    """What one run of the tier did (answers holds this run's and replayed ones)."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    called: int = 0
    stopped: str = ""  # "", "budget" or "interrupted"
    seconds: float = 0.0


def run_phase(
    client: VerifyClient,
    tasks: list[VerifyTask],
    *,
    concurrency: int = 1,
    deadline: float | None = None,
    on_answer: Callable[[VerifyTask, dict[str, Any]], None] | None = None,
) -> PhaseReport:
    """Ask every task in order, ``concurrency`` at a time, until done or past ``deadline``.

    ``deadline`` is a ``time.monotonic()`` value: no new call starts after it, calls in flight
    finish (their answers are kept). Ctrl-C does the same, then re-raises.
    """
    report = PhaseReport()
    t0 = time.perf_counter()
    lock = threading.Lock()
    pending = iter(tasks)
    in_flight: dict[Future[dict[str, Any]], VerifyTask] = {}

    def submit(pool: ThreadPoolExecutor) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            report.stopped = "budget"
            return False
        task = next(pending, None)
        if task is None:
            return False
        in_flight[pool.submit(client.ask, task)] = task
        return True

    def collect(done: Iterable[Future[dict[str, Any]]]) -> None:
        for fut in done:
            task = in_flight.pop(fut)
            entry = fut.result()
            with lock:
                report.answers[task.chunk.id] = entry
                report.called += 1
            if on_answer is not None:
                on_answer(task, entry)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="kg-llm")
    try:
        while len(in_flight) < max(1, concurrency) and submit(pool):
            pass
        while in_flight:
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            collect(done)
            while len(in_flight) < max(1, concurrency) and submit(pool):
                pass
    except KeyboardInterrupt:
        report.stopped = "interrupted"
        done, _ = wait(list(in_flight))  # let the calls in flight land in the cache
        collect(f for f in done if not f.exception())
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        report.seconds = round(time.perf_counter() - t0, 3)
    return report


def apply_verdicts(
    result: ChunkResult, task: VerifyTask, entry: dict[str, Any], ontology: Ontology
) -> ChunkResult:
    """The chunk's result with the LLM's answer applied; an unusable answer changes nothing.

    A relation judged false goes if the trained tier scored it under ``DROP_BELOW``; one judged
    true keeps its spans with a higher confidence; a
    candidate judged true joins the graph when ``ACCEPT_CANDIDATES``; new pairs (of the types
    the trained tier cannot give) are anchored to the closest mentions of their two entities.
    """
    result.usage.add(LLMUsage.model_validate(entry.get("usage") or {}))
    verdicts = parse_verdicts(entry.get("parsed"))
    if verdicts is None or len(verdicts.verdicts) != len(task.pairs):
        reason = entry.get("error") or "answer did not match the chunk's candidate list"
        result.rejected.append(
            Rejected(chunk_id=result.chunk.id, kind="output", item=entry.get("parsed"),
                     reason=f"LLM tier: {reason}")
        )  # fmt: skip
        return result
    result.summary = verdicts.summary.strip() or result.summary
    relations = {rs.relation.id: rs for rs in result.relations}
    for rs, holds in zip(task.pairs, verdicts.verdicts, strict=True):
        known = rs.relation.id in relations
        if not holds and (not known or rs.relation.confidence < DROP_BELOW):
            relations.pop(rs.relation.id, None)
        elif not holds:
            continue  # a confident trained relation outvotes the small model
        elif known or ACCEPT_CANDIDATES:
            rel = rs.relation
            confirmed = rel.model_copy(
                update={"confidence": max(rel.confidence, CONFIDENCE["confirmed"]),
                        "extractor": CONFIRMED}
            )  # fmt: skip
            relations[rel.id] = RelationSpan(confirmed, rs.head_span, rs.tail_span)
    allowed = set(new_relation_names(ontology))
    for item in _new(verdicts, task, ontology):
        if item.relation.type in allowed:
            _keep(relations, item)
    result.relations = sorted(relations.values(), key=lambda r: r.relation.id)
    result.candidates = []
    return result


def _keep(into: dict[str, RelationSpan], rs: RelationSpan) -> None:
    old = into.get(rs.relation.id)
    if old is None or old.relation.confidence < rs.relation.confidence:
        into[rs.relation.id] = rs


def _new(verdicts: ChunkVerdicts, task: VerifyTask, ontology: Ontology) -> list[RelationSpan]:
    out: list[RelationSpan] = []
    chunk = task.chunk
    for item in verdicts.new:
        if not (1 <= item.h <= len(task.entities) and 1 <= item.t <= len(task.entities)):
            continue
        head, tail = task.entities[item.h - 1], task.entities[item.t - 1]
        if head.id == tail.id or not ontology.allows(item.r, head.type, tail.type):
            continue
        spans = _closest(head, tail, chunk.id)
        if spans is None:
            continue
        (hs, he), (ts, te) = spans
        lo, hi = _sentence(chunk.text, min(hs, ts) - chunk.start, max(he, te) - chunk.start)
        evidence = Evidence(chunk_id=chunk.id, doc_id=chunk.doc_id, start=chunk.start + lo,
                            end=chunk.start + hi, text=chunk.text[lo:hi])  # fmt: skip
        rel = Relation.make(head.id, item.r, tail.id, evidence=[evidence],
                            confidence=CONFIDENCE["new"], extractor=EXTRACTOR)  # fmt: skip
        out.append(RelationSpan(rel, (hs, he), (ts, te)))
    return out


def _closest(head: Any, tail: Any, chunk_id: str) -> tuple[tuple[int, int], ...] | None:
    hm = [(m.start, m.end) for m in head.mentions if m.chunk_id == chunk_id]
    tm = [(m.start, m.end) for m in tail.mentions if m.chunk_id == chunk_id]
    if not hm or not tm:
        return None
    return min(((h, t) for h in hm for t in tm), key=lambda p: abs(p[0][0] - p[1][0]))


def _sentence(text: str, lo: int, hi: int) -> tuple[int, int]:
    """``[lo, hi)`` widened to the sentence or line around it, or left as is when too long."""
    start = max(text.rfind("\n", 0, lo), *(text.rfind(p, 0, lo) for p in (". ", "? ", "! ")))
    start = 0 if start < 0 else start + 1
    ends = [i for i in (text.find("\n", hi), text.find(". ", hi)) if i >= 0]
    end = min(ends) + 1 if ends else len(text)
    while start < lo and text[start].isspace():
        start += 1
    end = min(end, len(text))
    while end > hi and text[end - 1].isspace():
        end -= 1
    if end - start > MAX_EVIDENCE_CHARS:
        return lo, hi
    return start, end
