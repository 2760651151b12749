"""How long the LLM tier will take: estimated from the speed measured on earlier calls.

Every answered call records its seconds, tokens and the machine's load in
``<cache>/llm-speed.json`` (per model), so the plan ``kg extract`` prints at start reflects this
machine; ``--llm auto`` makes one calibration call first when nothing is recorded yet
(refine.py). The load matters: a call measured at load 1 on 2 cores takes about three times as
long at load 6, so each call's time is normalised by the contention it ran under and the
estimate multiplied by the contention now. Before any measurement the figures of the offline
1.5B model on 2 idle cores are assumed: ~90 prompt and ~30 output tokens/s.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from kg.errors import BadInput
from kg.workspace import atomic_write_text
from pipelines.extraction.verify_prompt import VerifyTask

READ_TOKENS_S = 90.0
WRITE_TOKENS_S = 30.0
CHARS_PER_TOKEN = 3.6
EXPECTED_OUTPUT_TOKENS = 70
HISTORY = 200  # calls remembered per model


def prompt_tokens(task: VerifyTask) -> int:
    """The per-chunk part of the prompt (the system part is cached by the server)."""
    from pipelines.extraction.verify_prompt import user_prompt

    return int(len(user_prompt(task)) / CHARS_PER_TOKEN) + 10


def _expected(prompt: float, completion: float) -> float:
    return prompt / READ_TOKENS_S + completion / WRITE_TOKENS_S


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def load_now() -> float:
    """The 1-minute load average (0 where the OS has none)."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return 0.0


def contention(load: float, cores: int | None = None) -> float:
    """How much slower a CPU-bound call runs at ``load`` than on idle cores (at least 1)."""
    return max(1.0, load / (cores or _cores()))


class SpeedLog:
    """Measured (seconds, prompt tokens, output tokens) of recent calls, per model."""

    def __init__(self, path: Path, model: str, *, local: bool = True) -> None:
        self.path = path
        self.model = model
        self.local = local  # kg's own server on these cores: the load here slows it
        self._lock = threading.Lock()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self._all: dict[str, list[list[float]]] = data if isinstance(data, dict) else {}

    @property
    def calls(self) -> list[list[float]]:
        return self._all.get(self.model, [])

    def record(self, entry: dict[str, Any], task: VerifyTask) -> None:
        usage = entry.get("usage") or {}
        seconds = float(entry.get("seconds") or 0.0)
        if seconds <= 0 or not usage.get("calls"):
            return
        row = [seconds, float(prompt_tokens(task)), float(usage.get("completion_tokens") or 0),
               load_now() if self.local else 0.0]  # fmt: skip
        with self._lock:
            rows = self._all.setdefault(self.model, [])
            rows.append(row)
            del rows[:-HISTORY]
            atomic_write_text(self.path, json.dumps(self._all))

    def scale(self) -> float:
        """Measured time on idle cores over the assumed time: >1 on a slower machine or model.

        Each call's seconds are divided by the contention it ran under (rows written before
        the load was recorded count as measured on idle cores)."""
        rows = self.calls[-50:]
        expected = sum(_expected(r[1], r[2]) for r in rows)
        idle = sum(r[0] / contention(r[3] if len(r) > 3 else 0.0) for r in rows)
        return idle / expected if rows and expected > 0 else 1.0

    def output_tokens(self) -> float:
        rows = self.calls[-50:]
        return sum(r[2] for r in rows) / len(rows) if rows else EXPECTED_OUTPUT_TOKENS

    def estimate(
        self, tasks: list[VerifyTask], concurrency: int = 1, load: float | None = None
    ) -> float:
        """Seconds for ``tasks`` at the measured speed under the load now (or ``load``); a
        served pool divides by its concurrency."""
        out = self.output_tokens()
        if load is None:
            load = load_now() if self.local else 0.0
        now = contention(load)
        total = sum(_expected(prompt_tokens(t), out) for t in tasks) * self.scale() * now
        return total / max(1, concurrency) if concurrency > 1 else total

    def measured(self) -> bool:
        """Whether a call was measured on this machine (a calibration call is enough)."""
        return len(self.calls) >= 1


def fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def parse_duration(text: str) -> float:
    """"90", "90s", "10m", "1.5h" -> seconds (a budget on the command line)."""
    value = text.strip().lower()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    factor = units.get(value[-1:])
    number = value[:-1] if factor is not None else value
    try:
        seconds = float(number) * (factor or 1.0)
    except ValueError:
        raise BadInput(f"not a duration: {text!r} (use e.g. 90s, 10m, 1.5h)") from None
    if seconds <= 0:
        raise BadInput(f"a budget must be positive: {text!r}")
    return seconds
