"""The LLM tier's estimate comes from speed measured on this machine, under the load now, and
``--llm auto`` never runs past its limit (issue 25, item 2).

The real extraction pipeline with a fake chat model whose calls take a known time.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.workspace import Workspace
from pipelines.extraction import llm_speed, refine
from pipelines.extraction.pipeline import run_extract
from tests.fake_verify import VerifyChat


class Timed(VerifyChat):
    """A model ``first``/``rest`` times as fast as the assumed 90/30 tokens/s: each verify call
    sleeps as long as such a model would take for its prompt and answer."""

    first: float = 0.2
    rest: float = 0.2

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        prompt = str(messages[-1].content)
        n = self.calls
        result = super()._generate(messages, *args, **kwargs)
        if "Candidates:" in prompt:
            answer = str(result.generations[0].message.content)
            took = llm_speed._expected(len(prompt) / 3.6, len(answer) / 4)
            time.sleep(took * self.factor(n))
        return result

    def factor(self, n: int) -> float:
        return self.first if n == 0 else self.rest


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (root / f"day{i}.md").write_text(
            f"Day {i}. The course Practical Machine Learning covered K-means clustering and PCA. "
            + "K-means uses the Euclidean distance between points and centroids. " * 12,
            encoding="utf-8",
        )
    return root


@pytest.fixture(autouse=True)
def _steady_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's calls sleep (not CPU-bound): the machine's changing load must not count."""
    monkeypatch.setattr(llm_speed, "load_now", lambda: 1.0)


def _settings(**kw: Any) -> Settings:
    return Settings(chunk_size=400, chunk_overlap=40, **{"llm_mode": "auto", **kw})


def _estimate_s(err: str) -> float:
    match = re.search(r"chunks to ask, about (\d+) (s|min)", err)
    assert match, err
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_the_estimate_is_measured_here_and_close_to_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    chat = Timed(first=0.25, rest=0.25)  # 4x faster than assumed: the assumption is off 4x
    timings: list[float] = []
    real_run = refine.LLMTierRun.run

    def timed_run(self: refine.LLMTierRun, *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_run(self, *args, **kw)
        finally:
            timings.append(time.perf_counter() - t0)

    monkeypatch.setattr(refine.LLMTierRun, "run", timed_run)
    manifest = run_extract([root], ws, _settings(), progress=True, chat=chat)
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "measured here" in err, err
    assert manifest.llm_coverage.state == "complete"
    estimate, (took,) = _estimate_s(err), timings
    assert took / 1.6 - 1 <= estimate <= took * 1.6 + 1, (estimate, took)


def test_auto_stops_at_its_limit_with_what_it_has_and_the_next_run_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(refine, "AUTO_LIMIT_S", 3.0)
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    chat = Timed(first=0.02, rest=0.3)  # the calibration fast, then the machine slows down

    def fast_calibration(self: Timed, n: int) -> float:
        return self.first if n < 2 else self.rest

    monkeypatch.setattr(Timed, "factor", fast_calibration)
    t0 = time.perf_counter()
    manifest = run_extract([root], ws, _settings(), progress=True, chat=chat)
    tier = time.perf_counter() - t0
    cov = manifest.llm_coverage
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert 1 < cov.done < cov.needed and cov.state == "partial", (cov, err)
    assert "limit of --llm auto" in err and "run again to continue" in err, err
    assert tier < 3.0 + 30, tier  # no call starts after the limit
    rest = VerifyChat()
    again = run_extract([root], ws, _settings(llm_mode="on"), progress=False, chat=rest)
    assert len([p for p in rest.prompts if "Candidates:" in p]) == cov.needed - cov.done
    assert again.llm_coverage.state == "complete"


def test_auto_does_not_start_a_tier_the_measured_speed_cannot_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(refine, "AUTO_LIMIT_S", 2.0)
    root, ws = _corpus(tmp_path / "notes"), Workspace(tmp_path / "ws")
    chat = Timed(first=0.15, rest=0.15)
    manifest = run_extract([root], ws, _settings(), progress=True, chat=chat)
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    verify_calls = [p for p in chat.prompts if "Candidates:" in p]
    assert len(verify_calls) == 2  # the calibration calls only; their answers are kept
    assert manifest.llm_coverage.done == 2 and "not run" in err, err


def test_the_estimate_scales_with_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm_speed, "_cores", lambda: 2)
    monkeypatch.setattr(llm_speed, "prompt_tokens", lambda task: 180)  # any chunk's size
    task: Any = object()
    log = llm_speed.SpeedLog(tmp_path / "speed.json", "m")
    monkeypatch.setattr(llm_speed, "load_now", lambda: 1.0)  # measured on a quiet machine
    for _ in range(3):
        log.record({"seconds": 2.0, "usage": {"calls": 1, "completion_tokens": 40}}, task)
    quiet = log.estimate([task] * 10, load=1.0)
    busy = log.estimate([task] * 10, load=6.0)
    assert quiet == pytest.approx(20.0, rel=0.01)
    assert busy == pytest.approx(3 * quiet, rel=0.01)  # load 6 on 2 cores: 3x slower
    # a call measured under load counts as a faster one on quiet cores
    loaded = llm_speed.SpeedLog(tmp_path / "speed2.json", "m")
    monkeypatch.setattr(llm_speed, "load_now", lambda: 6.0)
    loaded.record({"seconds": 6.0, "usage": {"calls": 1, "completion_tokens": 40}}, task)
    assert loaded.estimate([task], load=0.0) == pytest.approx(2.0, rel=0.01)
    # remembered across runs (the last run's rate)
    again = llm_speed.SpeedLog(tmp_path / "speed.json", "m")
    assert again.measured() and again.estimate([task], load=1.0) == pytest.approx(2.0, rel=0.01)
