"""--workers N: run N processes, each with its share of the load, and merge their results exactly.

Workers send two kinds of messages on one queue: progress (at most about once
a second, from the runner's own throttle) and, at the end, their compact
result. The parent sums progress across workers for its reporter.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from multiprocessing.synchronize import Barrier
from typing import Any

from loadgen.compact import decode_compact, encode_compact
from loadgen.config import RunConfig, split_evenly
from loadgen.eventloop import run_async
from loadgen.live import Window, WindowListener, merge_windows
from loadgen.merge import merge_results
from loadgen.progress import ProgressReporter
from loadgen.result import LevelResult, RunResult

# A worker silent this long past the run's own time bound is taken as failed.
_RESULT_GRACE_S = 120.0

# (kind, worker index, payload): kind "progress" -> (level, completed, total); "window" -> a live window's
# JSON (loadgen.live); "result" -> compact text
Message = tuple[str, int, Any]


class _QueueReporter:
    """A worker's reporter: forwards progress to the parent process."""

    def __init__(self, index: int, messages: mp.Queue[Message]) -> None:
        self._index = index
        self._messages = messages

    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        self._messages.put(("progress", self._index, (level_index, 0, total)))

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        self._messages.put(("progress", self._index, (level_index, completed, total)))

    def on_level_end(self, level: LevelResult) -> None:
        pass

    def on_finished(self, result: RunResult) -> None:
        pass

    def on_window(self, window: Window) -> None:
        self._messages.put(("window", self._index, window.to_json()))


def _worker(config_json: str, index: int, count: int, barrier: Barrier, messages: mp.Queue[Message]) -> None:
    from loadgen.runner import run  # imported in the child: keep the parent light

    config = RunConfig.model_validate_json(config_json).for_shard(index, count)

    async def gate(level: int) -> None:
        # Levels start together in every worker, so their windows line up.
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)

    result = run_async(run(config, _QueueReporter(index, messages), level_gate=gate))
    messages.put(("result", index, encode_compact(result, budget=None, raw_limit=None, max_buckets=None)))


class _ProgressSum:
    """Adds up the workers' latest progress and passes it on to the parent's reporter."""

    def __init__(self, reporter: ProgressReporter, config: RunConfig) -> None:
        self._reporter = reporter
        self._config = config
        self._level = -1
        self._latest: dict[int, tuple[int, int | None]] = {}
        self._windows: dict[int, Window] = {}

    def _share(self, total: int) -> int:
        return split_evenly(total, self._config.shard_index, self._config.shard_count)

    def update(self, worker: int, level: int, completed: int, total: int | None) -> None:
        # This process runs one shard; its workers split that shard's share of the level.
        count = self._config.requests_per_level
        shard_total = self._share(count) if count is not None else None
        if level > self._level:
            self._level = level
            self._latest = {}
            self._reporter.on_level_start(level, self._share(self._config.levels[level]), shard_total)
        if level == self._level:
            self._latest[worker] = (completed, total)
            self._reporter.on_progress(sum(c for c, _ in self._latest.values()), shard_total, level)

    def window(self, worker: int, data: object) -> None:
        """A worker's live window: the workers' latest windows of the current level, merged exactly."""
        window = Window.from_json(data)
        if window.level != self._level or not isinstance(self._reporter, WindowListener):
            return
        self._windows = {w: v for w, v in self._windows.items() if v.level == self._level}
        self._windows[worker] = window
        merged = merge_windows(list(self._windows.values()))
        if merged is not None:
            self._reporter.on_window(merged)


def run_workers(config: RunConfig, workers: int, reporter: ProgressReporter | None = None) -> RunResult:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    messages: mp.Queue[Message] = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(config.model_dump_json(), i, workers, barrier, messages), daemon=True
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    progress = _ProgressSum(reporter, config) if reporter is not None else None
    collected: dict[int, RunResult] = {}
    deadline = time.monotonic() + _run_bound_seconds(config) + _RESULT_GRACE_S
    try:
        while len(collected) < workers:
            try:
                kind, index, payload = messages.get(timeout=1.0)
            except queue.Empty:
                failed = [i for i, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if failed or time.monotonic() > deadline:
                    raise RuntimeError(f"worker(s) {failed} gave no result; see their errors above") from None
                continue
            if kind == "result":
                collected[index] = decode_compact(payload)
            elif kind == "window":
                if progress is not None:
                    progress.window(index, payload)
            elif progress is not None:
                progress.update(index, *payload)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return merge_results([collected[i] for i in range(workers)], raw_limit=None)


def _run_bound_seconds(config: RunConfig) -> float:
    """A generous upper bound on a run's length, to notice a dead worker."""
    per_level = config.level_duration_seconds or 3600.0
    return len(config.levels) * (per_level + config.request_timeout_seconds) + config.request_timeout_seconds
