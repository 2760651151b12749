"""A second real llama.cpp server for tests: kg's offline model with 2 slots on a free port.

It is started through kg's own runtime (the same xllamacpp child, the same verified GGUF in
``~/.cache/kg/models``) but with a cache dir of its own, so it never reuses, replaces or stops the
user's offline server. Import the fixture into a test module to use it::

    from tests.llama_server import llama_server_2slots  # noqa: F401  (a pytest fixture)

    @pytest.mark.llm
    def test_x(llama_server_2slots: str, monkeypatch) -> None:
        monkeypatch.setenv("KG_LLM_BASE_URL", llama_server_2slots)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kg.config import Settings
from kg.llm import runtime

SLOTS = 2


def server_root(base_url: str) -> str:
    """llama.cpp's own endpoints (/slots, /health, /tokenize) live beside /v1."""
    return base_url.rstrip("/").removesuffix("/v1")


def slots(base_url: str) -> list[dict[str, object]]:
    """llama.cpp's /slots: one entry per slot; ``id_task`` appears once a slot has served."""
    resp = httpx.get(f"{server_root(base_url)}/slots", timeout=60)
    resp.raise_for_status()
    return list(resp.json())


def slots_used(base_url: str) -> set[int]:
    return {int(s["id"]) for s in slots(base_url) if "id_task" in s}  # type: ignore[call-overload]


class BusyWatch:
    """Polls /slots in a thread; ``most`` is the most slots seen processing at one moment."""

    def __init__(self, base_url: str, every_s: float = 0.3) -> None:
        self.base_url, self.every_s = base_url, every_s
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = sum(bool(s.get("is_processing")) for s in slots(self.base_url))
            except httpx.HTTPError:
                busy = 0
            self.most = max(self.most, busy)
            self._stop.wait(self.every_s)

    def __enter__(self) -> BusyWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def start_second_server(cache: Path, slots: int = SLOTS) -> tuple[Settings, str]:
    """Start a server of its own under ``cache``; returns its settings and /v1 base URL."""
    cache.mkdir(parents=True, exist_ok=True)
    models = cache / "models"
    if not models.exists():
        models.symlink_to(runtime.ensure_model(Settings()).parent, target_is_directory=True)
    threads = Settings.from_env().llm_threads  # KG_LLM_THREADS=1 helps on a crowded machine
    settings = Settings(
        cache_dir=cache, workspace=cache / ".kg", llm_slots=slots, llm_threads=threads
    )
    state = runtime.start_server(settings)
    return settings, state.base_url


@pytest.fixture(scope="module")
def llama_server_2slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``) of a fresh 2-slot server."""
    settings, base_url = start_second_server(tmp_path_factory.mktemp("llama-2slots"))
    try:
        yield base_url
    finally:
        runtime.stop_llm_server(settings)
