"""``kg extract --engine ray``: the per-chunk work on a Ray cluster (the ``[ray]`` extra).

An actor pool (one actor per CPU, each holding the models, loaded once) computes document-order
shards of chunks and returns their cache entries under the existing cache keys; the driver
writes them into the workspace's store, then runs the corpus passes and the assembly as the
local path does, so the workspace is byte-identical to ``--engine local``. Ray tasks/actors over
shards rather than Ray Data: the work is one map over shards, and the global steps are about 2 %
of the CPU, so they stay on the driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kg.models import Chunk

if TYPE_CHECKING:
    from kg.config import Settings

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(
            "--engine ray needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.40')"
        ) from exc
    return ray


def compute_on_ray(
    parts: list[list[Chunk]], settings: Settings, *, workers: int, address: str | None = None
) -> Iterator[tuple[list[Chunk], dict[str, dict[str, Any]]]]:
    """(shard, namespace -> {key: value}) for every shard, as actors finish them."""
    import os

    ray = _ray()
    started = not ray.is_initialized()
    # Ray starts its workers at nice 15: on a busy machine they would get almost no CPU while
    # the local pool's workers run at the parent's priority (read when the cluster starts)
    os.environ.setdefault("RAY_worker_niceness", "0")
    if started:
        if address:
            ray.init(address=address, runtime_env={"env_vars": THREAD_ENV}, log_to_driver=False)
        else:  # a local cluster of ``workers`` CPUs (local_mode is gone from recent Ray)
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": THREAD_ENV})  # fmt: skip
    try:
        from ray.util import ActorPool

        from pipelines.extraction.workers import ChunkWork

        actor = ray.remote(num_cpus=1)(ChunkWork)
        cpus = int(ray.cluster_resources().get("CPU", workers))
        pool = ActorPool([actor.remote(settings) for _ in range(max(1, min(cpus, len(parts))))])
        yield from zip(
            parts, pool.map(lambda a, part: a.compute.remote(part), parts), strict=True
        )
    finally:
        if started:
            ray.shutdown()
