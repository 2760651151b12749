"""Scale-out for real: kg's client sends 2 chunks at once to a second llama.cpp server (2 slots).

The server is started by the test (tests/llama_server.py) and reached the way a user's served pool
is, through ``KG_LLM_BASE_URL``. Marked ``llm`` (minutes on 2 CPU cores):
``pytest tests/test_llm_scaleout.py -m llm -s``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from kg.config import Settings
from kg.llm.client import JsonResult, chat_model, invoke_json
from tests.llama_server import (
    BusyWatch,
    llama_server_2slots,  # noqa: F401  (a pytest fixture)
    server_root,
    slots_used,
)

SEED = Path("/work/shared/corpus/seeds/000_4485d3515797c64c.txt")  # the smallest seed file

PREFIX = (
    "You read one note from a learner's journal and return JSON with the teacher's full name "
    "and the year of the workshop the note is about. Copy the name exactly as written. "
    "Answer with JSON only."
)

# invented notes: (teacher, year, topic)
NOTES = [
    ("Maria Lindqvist", 2017, "graph databases"),
    ("Kenji Okafor", 2021, "signal processing"),
    ("Aino Ferreira", 2019, "compiler design"),
    ("Tomas Halvorsen", 2023, "protein folding"),
]


class Workshop(BaseModel):
    teacher: str
    year: int


def note(teacher: str, year: int, topic: str) -> str:
    return (
        f"Journal entry. In {year} I joined a two-day workshop on {topic}. It was taught by "
        f"{teacher}, who walked us through the basics and then a small project of our own. "
        "I took notes on every exercise and plan to revisit them next month."
    )


@pytest.mark.llm
def test_two_chunks_at_once_use_both_slots_and_answer_right(
    llama_server_2slots: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KG_LLM_BASE_URL", llama_server_2slots)
    monkeypatch.setenv("KG_LLM_CONCURRENCY", "2")
    settings = Settings.from_env()
    assert settings.llm_base_url == llama_server_2slots and settings.llm_concurrency == 2
    chat = chat_model(settings, max_tokens=48)  # one chat shared by the workers, as in extract

    def ask(item: tuple[str, int, str]) -> JsonResult:
        messages = [("system", PREFIX), ("user", note(*item))]
        return invoke_json(chat, messages, Workshop, max_tokens=48)

    started = time.perf_counter()
    with BusyWatch(llama_server_2slots) as watch, ThreadPoolExecutor(2) as pool:
        results = list(pool.map(ask, NOTES))
    print(f"\n{len(NOTES)} requests, concurrency 2: {time.perf_counter() - started:.1f}s")

    for (teacher, year, _), result in zip(NOTES, results, strict=True):
        assert result.error is None, result.raw
        assert isinstance(result.data, Workshop)
        assert result.data.teacher.strip() == teacher and result.data.year == year
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert max(r.cached_prompt_tokens for r in results) > 0  # the shared prefix was reused
    assert slots_used(llama_server_2slots) == {0, 1}
    assert watch.most == 2  # both slots were decoding at the same moment


@pytest.mark.llm
def test_the_shared_prompt_prefix_is_served_from_the_prompt_cache(
    llama_server_2slots: str,  # noqa: F811
) -> None:
    """Two requests with the same system prefix: the second evaluates only what differs."""

    def timings(item: tuple[str, int, str]) -> dict[str, int]:
        body = {
            "messages": [
                {"role": "system", "content": PREFIX * 4},  # a prefix long enough to matter
                {"role": "user", "content": note(*item)},
            ],
            "max_tokens": 4,
            "temperature": 0.0,
        }
        resp = httpx.post(f"{llama_server_2slots}/chat/completions", json=body, timeout=600)
        resp.raise_for_status()
        data = resp.json()
        return {**data["timings"], "prompt_tokens": data["usage"]["prompt_tokens"]}

    first, second = timings(NOTES[0]), timings(NOTES[1])
    print(f"\nfirst call: {first}\nsecond call: {second}")
    tokens = httpx.post(
        f"{server_root(llama_server_2slots)}/tokenize", json={"content": PREFIX * 4}, timeout=60
    )
    prefix_tokens = len(tokens.json()["tokens"])
    assert prefix_tokens > 100
    assert second["cache_n"] >= prefix_tokens  # the whole system prefix came from the cache
    assert second["prompt_n"] < first["prompt_n"] / 2
    assert second["cache_n"] + second["prompt_n"] == second["prompt_tokens"]


@pytest.mark.llm
@pytest.mark.timeout(3600)
def test_kg_extract_concurrency_2_sends_two_chunks_at_once_to_a_served_pool(
    llama_server_2slots: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``kg extract --concurrency 2`` with KG_LLM_BASE_URL at a 2-slot llama.cpp server."""
    from typer.testing import CliRunner

    from app.cli import app
    from kg.workspace import Workspace

    if not SEED.is_file():
        pytest.skip(f"seed corpus not found at {SEED}")
    monkeypatch.setenv("KG_LLM_BASE_URL", llama_server_2slots)
    monkeypatch.setenv("KG_LLM_TIMEOUT", "1800")
    ws = tmp_path / "ws"
    args = ["extract", str(SEED), "--workspace", str(ws), "--llm", "on", "--concurrency", "2"]
    started = time.perf_counter()
    with BusyWatch(llama_server_2slots) as watch:
        result = CliRunner().invoke(app, args)
    print(f"\nkg extract --concurrency 2: {time.perf_counter() - started:.1f}s")
    assert result.exit_code == 0, result.output
    manifest = Workspace(ws).manifest()
    cov = manifest.llm_coverage
    assert cov.state == "complete" and cov.done == cov.needed
    assert manifest.llm_usage.calls >= cov.needed >= 2, cov  # two chunks could go at once
    assert manifest.llm_usage.failures == 0
    assert watch.most == 2  # the server had two of kg's chunks in flight at one moment
    assert slots_used(llama_server_2slots) == {0, 1}
    assert any(s.level == 0 for s in Workspace(ws).read("summaries"))
