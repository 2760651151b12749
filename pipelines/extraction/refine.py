"""The LLM tier as a refinement of the graph the trained tier already wrote.

``kg extract`` writes the trained graph first; this module then plans the chunks that need a
call (candidate pairs to verify, or a map summary to write), replays the answers an earlier run
checkpointed, decides whether to run the rest (``--llm auto|on|off``, ``--llm-budget``), and
applies every answer to its chunk's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kg.llm_cache import LLMCache
from kg.models import Document, LLMCoverage
from kg.ontology import Ontology
from pipelines.extraction.llm_speed import SpeedLog, fmt_duration, load_now
from pipelines.extraction.llm_verify import (
    PhaseReport,
    VerifyClient,
    apply_verdicts,
    run_phase,
)
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.verify_prompt import VerifyTask, plan_task

if TYPE_CHECKING:
    from kg.config import Settings

AUTO_LIMIT_S = 600.0  # --llm auto runs the tier when its estimate is at most this


@dataclass
class LLMTierRun:
    """One run's LLM tier: its plan, the answers replayed and asked, and what was applied."""

    ontology: Ontology
    settings: Settings
    client: VerifyClient
    speed: SpeedLog
    tasks: list[VerifyTask] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: set[str] = field(default_factory=set)
    report: PhaseReport = field(default_factory=PhaseReport)
    skipped_sure: int = 0
    unavailable: str = ""  # why the LLM stopped answering mid-run, if it did
    _results: dict[str, ChunkResult] = field(default_factory=dict)
    _started: float = 0.0  # when the tier's first call (the calibration) started

    @classmethod
    def create(
        cls, ontology: Ontology, settings: Settings, chat: Callable[[], Any], cache: LLMCache
    ) -> LLMTierRun:
        client = VerifyClient(ontology, chat, cache, settings.llm_model)
        speed = SpeedLog(cache.root.parent / "llm-speed.json", settings.llm_model,
                         local=not settings.llm_base_url)  # fmt: skip
        return cls(ontology, settings, client, speed)

    def plan(self, documents: list[Document], results: dict[str, ChunkResult],
             order: list[str]) -> None:  # fmt: skip
        """Tasks for every chunk that needs a call; answers an earlier run left are replayed."""
        self._results = results  # a calibration answer is applied to it at once
        title_of = {d.id: d.title for d in documents}
        for cid in order:
            result = results[cid]
            task = plan_task(result, title_of.get(result.chunk.doc_id, ""), self.ontology)
            self.skipped_sure += task.skipped_sure
            if not task.needs_call:
                continue
            self.tasks.append(task)
            entry = self.client.cached(task)
            if entry is not None:
                self.answers[cid] = {**entry, "usage": {"cached": 1}}

    @property
    def pending(self) -> list[VerifyTask]:
        """Unanswered tasks, shortest documents first: each finished document gets its reduce
        summary (and its whole refined graph) as early as possible in a long or budgeted run."""
        size: dict[str, int] = {}
        for t in self.tasks:
            size[t.chunk.doc_id] = size.get(t.chunk.doc_id, 0) + 1
        todo = [t for t in self.tasks if t.chunk.id not in self.answers]
        return sorted(todo, key=lambda t: (size[t.chunk.doc_id], t.chunk.doc_id, t.chunk.index))

    def estimate(self) -> float:
        """Seconds at the measured speed; a served pool (KG_LLM_BASE_URL) divides it by the
        concurrency, kg's own server on the same cores does not (2 slots measured 1.13x)."""
        pool = self.settings.llm_concurrency if self.settings.llm_base_url else 1
        return self.speed.estimate(self.pending, pool)

    def calibrate(self) -> str | None:
        """Two real calls (the first pending chunks'; their answers are kept and applied) when
        nothing was measured on this machine yet, so ``auto`` decides on measured speed. The
        first call is a warm-up (the server reads the long system prompt once and caches it,
        the client builds its schema); the second is the one timed. Returns why the LLM could
        not be asked, if it could not."""
        from kg.llm.client import LLMUnavailable

        pending = self.pending[:2]
        if self.speed.measured() or len(pending) < 2:
            return None
        try:
            self.client.chat()  # start the server first: its start-up is not the call's speed
            self._started = time.monotonic()
            for n, task in enumerate(pending):
                entry = self.client.ask(task)
                self.answers[task.chunk.id] = entry
                if n:
                    self.speed.record(entry, task)
        except LLMUnavailable as exc:
            return str(exc)
        finally:
            if self._results:
                self.apply(self._results)
        return None

    def auto_left(self) -> float:
        """Seconds ``--llm auto`` has left of its limit (the calibration call counts)."""
        spent = time.monotonic() - self._started if self._started else 0.0
        return max(0.0, AUTO_LIMIT_S - spent)

    def decide(self) -> tuple[bool, str]:
        """Whether to run the pending calls now, and the line that says so."""
        mode, budget = self.settings.llm_mode, self.settings.llm_budget_s
        if mode == "auto" and budget is None and AUTO_LIMIT_S > 0:
            down = self.calibrate()
            if down is not None:
                return False, f"LLM tier: not run, LLM unavailable ({down}); run again later"
        pending = self.pending
        if not pending:
            return False, ""
        est = self.estimate()
        if self.speed.measured():
            rows = self.speed.calls[-5:]
            per_call = sum(r[0] for r in rows) / len(rows)
            basis = f"measured here: {per_call:.1f} s a call, load now {load_now():.1f}"
        else:
            basis = "assumed 90/30 tokens/s"
        what = f"LLM tier: {len(pending)} of {len(self.tasks)} chunks to ask, about " \
               f"{fmt_duration(est)} ({basis})"  # fmt: skip
        if budget is not None:
            return True, f"{what}; budget {fmt_duration(budget)}"
        if mode == "on":
            return True, what
        if mode == "auto" and est <= self.auto_left():
            return True, f"{what}; stops at the {fmt_duration(AUTO_LIMIT_S)} limit of --llm auto"
        return False, (
            f"{what}: not run (over {fmt_duration(AUTO_LIMIT_S)}). The trained graph is written "
            "and ready to load. To refine it: `kg extract PATH --llm on` (Ctrl-C stops and keeps "
            "what is done), `--llm-budget 10m` for a slice per run, or in the background: "
            "`nohup kg extract PATH --llm on > kg-llm.log 2>&1 &`"
        )

    def run(self, tick: Callable[[VerifyTask], None] | None = None) -> PhaseReport:
        """Ask the pending chunks, checkpointing each answer; Ctrl-C keeps what landed."""
        budget = self.settings.llm_budget_s
        if budget is None and self.settings.llm_mode == "auto":
            budget = self.auto_left()  # auto never runs past its limit, estimate or not
        deadline = time.monotonic() + budget if budget is not None else None

        def on_answer(task: VerifyTask, entry: dict[str, Any]) -> None:
            self.answers[task.chunk.id] = entry
            self.speed.record(entry, task)
            if tick is not None:
                tick(task)

        from kg.llm.client import LLMUnavailable

        try:
            self.report = run_phase(
                self.client, self.pending, concurrency=self.settings.llm_concurrency,
                deadline=deadline, on_answer=on_answer,
            )  # fmt: skip
        except KeyboardInterrupt:
            self.report.stopped = "interrupted"
            raise
        except LLMUnavailable as exc:  # the server died mid-run: keep every answer that landed
            self.report.stopped = "unavailable"
            self.unavailable = str(exc)
        return self.report

    def stop_line(self) -> str:
        """What to tell the user when the tier stopped before the end (else "")."""
        cov = self.coverage()
        done = f"{cov.done} of {cov.needed} chunks done; run again to continue"
        if self.report.stopped == "budget" and self.settings.llm_budget_s is None:
            limit = fmt_duration(AUTO_LIMIT_S)
            return f"LLM tier: stopped at the {limit} limit of --llm auto, {done}"
        if self.report.stopped == "budget":
            return f"LLM tier: budget spent, {done}"
        if self.report.stopped == "unavailable":
            return f"LLM tier stopped: LLM unavailable ({self.unavailable}); {done}"
        return ""

    def apply(self, results: dict[str, ChunkResult]) -> None:
        """Apply every answer not applied yet (each chunk's answer is applied once)."""
        for task in self.tasks:
            cid = task.chunk.id
            if cid in self.answers and cid not in self.applied:
                results[cid] = apply_verdicts(results[cid], task, self.answers[cid],
                                              self.ontology)  # fmt: skip
                self.applied.add(cid)

    def complete_docs(self) -> set[str]:
        """Documents whose every chunk that needs a call has its answer (ready to reduce)."""
        waiting = {t.chunk.doc_id for t in self.tasks if t.chunk.id not in self.answers}
        return {t.chunk.doc_id for t in self.tasks} - waiting

    def coverage(self) -> LLMCoverage:
        done = sum(1 for t in self.tasks if t.chunk.id in self.answers)
        verified = sum(len(t.pairs) for t in self.tasks if t.chunk.id in self.answers)
        state = "complete" if done == len(self.tasks) else "partial" if done else "not run"
        return LLMCoverage(needed=len(self.tasks), done=done, pairs_verified=verified,
                           pairs_skipped_sure=self.skipped_sure, state=state)  # fmt: skip
