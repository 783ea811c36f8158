"""--workers N: run N processes, each with its share of the load, and merge their results exactly."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from multiprocessing.synchronize import Barrier

from loadgen.compact import decode_compact, encode_compact
from loadgen.config import RunConfig
from loadgen.eventloop import run_async
from loadgen.merge import merge_results
from loadgen.result import RunResult

# A worker silent this long past the run's own time bound is taken as failed.
_RESULT_GRACE_S = 120.0


def _worker(
    config_json: str, index: int, count: int, barrier: Barrier, results: mp.Queue[tuple[int, str]]
) -> None:
    from loadgen.runner import run  # imported in the child: keep the parent light

    config = RunConfig.model_validate_json(config_json).for_shard(index, count)

    async def gate(level: int) -> None:
        # Levels start together in every worker, so their windows line up.
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)

    result = run_async(run(config, level_gate=gate))
    results.put((index, encode_compact(result)))


def run_workers(config: RunConfig, workers: int) -> RunResult:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results: mp.Queue[tuple[int, str]] = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(config.model_dump_json(), i, workers, barrier, results), daemon=True
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    collected: dict[int, RunResult] = {}
    deadline = time.monotonic() + _run_bound_seconds(config) + _RESULT_GRACE_S
    try:
        while len(collected) < workers:
            try:
                index, text = results.get(timeout=1.0)
            except queue.Empty:
                failed = [i for i, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if failed or time.monotonic() > deadline:
                    raise RuntimeError(f"worker(s) {failed} gave no result; see their errors above") from None
                continue
            collected[index] = decode_compact(text)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return merge_results([collected[i] for i in range(workers)])


def _run_bound_seconds(config: RunConfig) -> float:
    """A generous upper bound on a run's length, to notice a dead worker."""
    per_level = config.level_duration_seconds or 3600.0
    return len(config.levels) * (per_level + config.request_timeout_seconds) + config.request_timeout_seconds
