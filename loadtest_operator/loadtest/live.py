"""Live progress of a running LoadTest from its shards' progress reports (pure).

Each shard's report (loadgen/k8s_report.py) carries its requests per level, when its level started, when
it last reported, and a live window of its level (loadgen/live.py): the last ~10 s of TTFT and TPOT as
log-bucketed histograms, with the window's request count and bounds. Windows of the shards at the current
level are merged exactly (histogram buckets add, rates add), never averaged: the p50s are within 1 % of
the nearest-rank median of every shard's samples together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from loadgen.live import Window, merge_windows
from loadtest_operator.api import LiveProgress, LoadTestSpec, Progress
from loadtest_operator.core.plan import LiveLevel
from loadtest_operator.loadtest.shards import ShardPhase, ShardState, summarize_progress

# A running shard reports every ~2 s; one silent this long is shown as stale and left out of `live`.
STALE_AFTER_SECONDS = 15.0


def running_progress(
    spec: LoadTestSpec, states: Sequence[ShardState], now: datetime, total_requests: int | None
) -> Progress:
    """status.progress while the run runs: where it is, how far, and the live figures of its level."""
    summary = summarize_progress(states)
    index = summary.current_level_index
    if index is not None and not 0 <= index < len(spec.load.levels):
        index = None  # a report naming a level the run does not have is not believed
    reporting = [s for s in states if _running(s) and _number(s.progress.get("updated")) is not None]
    stale = [s.index for s in reporting if _age(s.progress, now) > STALE_AFTER_SECONDS]
    oldest = min((_number(s.progress.get("updated")) or 0.0 for s in reporting), default=None)
    return Progress(
        completed_requests=summary.completed_requests,
        total_requests=total_requests,
        current_level=spec.load.levels[index] if index is not None else None,
        current_level_index=index,
        level_completed_requests=_level_requests(states, index) if index is not None else None,
        shards_succeeded=summary.succeeded,
        shards_failed=summary.failed,
        # None until a shard reports (pods starting, warm-up): the run has not begun measuring.
        percent=_percent(spec, states, now, summary.completed_requests, total_requests) if reporting else None,
        report_time=datetime.fromtimestamp(oldest, UTC) if oldest is not None else None,
        stale_shards=stale or None,
        live=_live(
            [s for s in reporting if s.index not in stale], index
        ) if index is not None else None,
    )  # fmt: skip


def ended_progress(progress: Progress | None) -> Progress | None:
    """status.progress once the run has ended: the live figures go (status.levels holds the results)."""
    if progress is None:
        return None
    return progress.model_copy(update={"live": None, "stale_shards": None})


def live_level(progress: Progress) -> LiveLevel | None:
    """What the operator's live gauges show for this tick (None before the first level starts)."""
    if progress.current_level is None:
        return None
    live = progress.live
    return LiveLevel(
        level=progress.current_level,
        requests=progress.level_completed_requests or 0,
        requests_per_second=live.requests_per_second if live else None,
        ttft_p50_seconds=live.ttft_median_milliseconds / 1e3
        if live and live.ttft_median_milliseconds is not None
        else None,
        tpot_p50_seconds=live.tpot_median_milliseconds / 1e3
        if live and live.tpot_median_milliseconds is not None
        else None,
    )


def describe_progress(progress: Progress, now: datetime) -> list[str]:
    """Lines for a person (`llmload show` of a running LoadTest)."""
    if progress.current_level is None:
        return ["progress: shards starting (no level begun yet)"]
    level = f"level {progress.current_level} (#{(progress.current_level_index or 0) + 1})"
    done = (
        f"{progress.level_completed_requests or 0} requests done in this level, {progress.completed_requests}"
    )
    done += f" of {progress.total_requests} in the run" if progress.total_requests else " in the run"
    lines = [
        f"progress: {level}, {done}" + (f", {progress.percent}%" if progress.percent is not None else "")
    ]
    live = progress.live
    if live is not None:
        figures = [f"{live.requests_per_second:.2f} req/s"]
        figures += [
            f"{name} p50 {value:.1f} ms"
            for name, value in (
                ("TTFT", live.ttft_median_milliseconds),
                ("TPOT", live.tpot_median_milliseconds),
            )
            if value is not None
        ]
        lines.append(
            f"live, last {live.window_seconds:.0f} s of {live.shards} shard(s): " + ", ".join(figures)
        )
    if progress.report_time is not None:
        age = (now - progress.report_time).total_seconds()
        lines.append(f"last report {age:.0f} s ago" + (f"; stale shards {progress.stale_shards}"
                                                         if progress.stale_shards else ""))  # fmt: skip
    return lines


def _live(states: Sequence[ShardState], index: int) -> LiveProgress | None:
    windows = []
    for s in states:
        try:
            window = Window.from_json(s.progress.get("window"))
        except ValueError:
            continue  # no window yet (or not one): that shard's figures are missing, never guessed
        if window.level == index:
            windows.append(window)
    merged = merge_windows(windows)
    if merged is None:
        return None
    ttft, tpot = merged.ttft_p50_seconds(), merged.tpot_p50_seconds()
    return LiveProgress(
        window_seconds=round(merged.seconds, 3),
        requests=merged.requests,
        requests_per_second=round(merged.requests_per_second, 3),
        ttft_median_milliseconds=round(ttft * 1e3, 3) if ttft is not None else None,
        tpot_median_milliseconds=round(tpot * 1e3, 3) if tpot is not None else None,
        shards=len(windows),
    )


def _level_requests(states: Sequence[ShardState], index: int) -> int:
    total = 0
    for s in states:
        counts = s.progress.get("levelRequests")
        if isinstance(counts, list) and index < len(counts) and type(counts[index]) is int:
            total += max(0, counts[index])
    return total


def _percent(
    spec: LoadTestSpec, states: Sequence[ShardState], now: datetime, completed: int, total: int | None
) -> int | None:
    """Below 100 while running: the last requests of a level (or its in-flight tail) still count."""
    if total:
        return min(99, math.floor(100 * completed / total))
    duration = spec.load.level_duration_seconds
    if not duration:
        return None
    levels = len(spec.load.levels)
    done = []
    for s in states:
        if not _running(s):
            continue
        index, started = s.progress.get("levelIndex"), _number(s.progress.get("levelStart"))
        if type(index) is not int or started is None:
            done.append(0.0)  # not started yet
            continue
        elapsed = now.timestamp() - started
        done.append((index + min(1.0, max(0.0, elapsed) / duration)) / levels)
    return min(99, math.floor(100 * min(done))) if done else None


def _running(s: ShardState) -> bool:
    return s.phase in (ShardPhase.RUNNING, ShardPhase.PENDING)


def _age(progress: Mapping[str, Any], now: datetime) -> float:
    return now.timestamp() - (_number(progress.get("updated")) or 0.0)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
