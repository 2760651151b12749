"""The per-chunk work (spaCy's parse, the trained tier) spread over processes or a Ray cluster.

The expensive stages are content-addressed per chunk: a worker computes a shard of chunks and
returns its cache entries (key -> JSON value, the existing cache keys), which the parent writes
into the workspace's store. Everything after (the per-document merge, the corpus passes, the
assembly) reads those caches in corpus order, so the workspace is byte-identical whatever the
number of workers or the engine. Workers are spawned processes that load each model once and
run one ONNX/BLAS thread each.

A new expensive per-chunk stage joins the workers by having ``namespace``, ``key(chunk)`` and
``compute(chunks)`` (``CachedStage``) and one line in ``cached_stages``; a cheap one is just one
line in ``pipeline.build_stages``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from kg.models import Chunk

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.llm_cache import LLMCache
    from kg.ontology import Ontology

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SHARD_CHUNKS = 32  # at most this many chunks per task: small enough to balance two workers
# fewer missing chunks than this run in the parent: a worker's model loads cost ~5 CPU-s
MIN_POOL_CHUNKS = 48
# a worker is replaced after this many shards (~2,000 chunks): spaCy's string store grows with
# every new word it sees, so a long-lived worker's memory would grow with the corpus
TASKS_PER_WORKER = 64


class CachedStage(Protocol):
    """A per-chunk stage whose output is a cache entry per chunk."""

    namespace: str

    def key(self, chunk: Chunk) -> str: ...

    def compute(self, chunks: Sequence[Chunk]) -> dict[str, Any]: ...


def default_workers() -> int:
    """The machine's cores (what ``kg extract`` uses unless told ``--workers``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def cached_stages(
    ontology: Ontology, settings: Settings, caches: dict[str, LLMCache] | None
) -> list[Any]:
    """The cacheable stages ``kg extract`` runs, built the same way in the parent and workers."""
    from pipelines.extraction.analysis import Analysis
    from pipelines.extraction.trained import TrainedStage

    def cache(name: str) -> Any:
        return caches[name] if caches is not None else None

    stages: list[Any] = [
        Analysis(ontology, cache("spacy"), True, cooccurrence=settings.cooccurrence,
                 named_only=settings.trained),
    ]  # fmt: skip
    if settings.trained:
        stages.append(TrainedStage(ontology, cache("trained")))
    return stages


class ChunkWork:
    """What one worker holds: the cacheable stages and their models (loaded on first use)."""

    def __init__(self, settings: Settings) -> None:
        from kg.ontology import load_ontology

        self.stages = cached_stages(load_ontology(settings.ontology), settings, None)

    def compute(self, chunks: Sequence[Chunk]) -> dict[str, dict[str, Any]]:
        """Namespace -> {cache key: value} for every stage over ``chunks``."""
        with _one_thread():
            return {s.namespace: s.compute(chunks) for s in self.stages}


def missing_chunks(stages: Sequence[Any], chunks: Sequence[Chunk]) -> list[Chunk]:
    """Chunks that some stage has no cache entry for (in corpus order)."""
    return [c for c in chunks if any(s.key(c) not in s.cache for s in stages)]


def shards(chunks: Sequence[Chunk], workers: int, size: int = SHARD_CHUNKS) -> list[list[Chunk]]:
    """Contiguous slices: at least four per worker when there is enough work, at most ``size``."""
    n = max(1, min(size, -(-len(chunks) // max(1, 4 * workers))))
    return [list(chunks[i : i + n]) for i in range(0, len(chunks), n)]


def fill_caches(
    stages: Sequence[Any],
    chunks: Sequence[Chunk],
    settings: Settings,
    *,
    workers: int = 1,
    engine: str = "local",
    ray_address: str | None = None,
    tick: Callable[[list[Chunk]], None] | None = None,
) -> int:
    """Compute every missing cache entry of ``stages`` for ``chunks``; returns chunks computed."""
    todo = missing_chunks(stages, chunks)
    if not todo:
        return 0
    by_ns = {s.namespace: s.cache for s in stages}
    parts = shards(todo, workers)
    if engine == "ray":
        from pipelines.extraction.ray_engine import compute_on_ray

        results: Iterator[tuple[list[Chunk], dict[str, dict[str, Any]]]] = compute_on_ray(
            parts, settings, workers=workers, address=ray_address
        )
    elif engine != "local":
        raise ValueError(f"unknown engine {engine!r} (local, ray)")
    elif workers <= 1 or len(parts) == 1 or len(todo) < MIN_POOL_CHUNKS:
        results = ((part, _in_process(stages, part)) for part in parts)
    else:
        results = _in_pool(parts, settings, workers)
    for part, entries in results:
        for ns, values in entries.items():
            by_ns[ns].put_many(values)
        if tick is not None:
            tick(part)
    return len(todo)


def _in_process(stages: Sequence[Any], part: list[Chunk]) -> dict[str, dict[str, Any]]:
    with _one_thread():
        return {s.namespace: s.compute(part) for s in stages}


_WORK: ChunkWork | None = None


def _init_worker(settings: Settings) -> None:
    global _WORK
    _WORK = ChunkWork(settings)


def _work(part: list[Chunk]) -> tuple[list[Chunk], dict[str, dict[str, Any]]]:
    assert _WORK is not None, "worker not initialised"
    return part, _WORK.compute(part)


def _in_pool(
    parts: list[list[Chunk]], settings: Settings, workers: int
) -> Iterator[tuple[list[Chunk], dict[str, dict[str, Any]]]]:
    """A spawned process pool (no fork: the parent may hold threads and open databases)."""
    import multiprocessing as mp

    with _thread_env():
        pool = mp.get_context("spawn").Pool(
            min(workers, len(parts)), initializer=_init_worker, initargs=(settings,),
            maxtasksperchild=TASKS_PER_WORKER,
        )  # fmt: skip
    try:
        yield from pool.imap_unordered(_work, parts)
    finally:
        pool.terminate()
        pool.join()


@contextlib.contextmanager
def _thread_env() -> Iterator[None]:
    """One BLAS/OpenMP thread in processes started inside the block (env read at their start)."""
    old = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One BLAS thread for numpy in this process: several spin-waiting threads cost CPU."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
