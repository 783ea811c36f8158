"""The shard-side live window (loadgen/live.py): what it holds, how it merges, how large it gets."""

from __future__ import annotations

import io
import json
import math
import random
import time

import pytest

from loadgen.k8s_report import ConfigMapReporter
from loadgen.live import (
    LIVE_RELATIVE_ERROR,
    MAX_BUCKETS,
    MAX_VALUE_SECONDS,
    Window,
    WindowTracker,
    encoded_size_bound,
    merge_windows,
)
from loadgen.progress import FanOutReporter, NullReporter, ProgressBar
from loadgen.result import LevelRaw, RunResult, tpot_us
from loadgen.workers import _ProgressSum
from tests.unit.loadgen.helpers import run_of
from tests.unit.loadgen.test_k8s_report import RecordingWriter, progress_of


def add(raw: LevelRaw, ttft_us: int, e2e_us: int, tokens: int) -> None:
    raw.ttft_us.append(ttft_us)
    raw.e2e_us.append(e2e_us)
    raw.output_tokens.append(tokens)
    raw.input_tokens.append(10)
    raw.schedule_lag_us.append(0)


def nearest_rank_p50(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.5 * (len(ordered) - 1))]


def test_the_window_holds_the_last_ten_ticks_and_its_rate_uses_its_own_bounds() -> None:
    raw = LevelRaw()
    tracker = WindowTracker(level=1, start=1000.0, streamed=True)
    requests = 0
    window = None
    for tick in range(1, 16):  # 15 ticks of 1 s; tick t's requests have TTFT t ms, 2 errors per tick
        for _ in range(tick):
            add(raw, tick * 1000, tick * 1000 + 9 * 500, 10)  # TPOT 0.5 ms
        requests += tick + 2
        window = tracker.tick(1000.0 + tick, raw, requests)

    assert window is not None
    # Ticks 6..15 are in the window: the slot of tick 6 started at tick 5.
    assert (window.level, window.start, window.end) == (1, 1005.0, 1015.0)
    assert window.requests == sum(t + 2 for t in range(6, 16))
    assert window.requests_per_second == pytest.approx(window.requests / 10.0)
    in_window = [float(t) for t in range(6, 16) for _ in range(t)]
    ttft = window.ttft_p50_seconds()
    tpot = window.tpot_p50_seconds()
    assert ttft is not None
    assert tpot is not None
    assert ttft * 1e3 == pytest.approx(nearest_rank_p50(in_window), rel=LIVE_RELATIVE_ERROR)
    assert tpot * 1e3 == pytest.approx(0.5, rel=LIVE_RELATIVE_ERROR)
    assert window.ttft.count == len(in_window)
    print(f"window {window.seconds:.0f} s: {window.requests} requests, {window.requests_per_second:.2f}/s, "
          f"TTFT p50 {ttft * 1e3:.3f} ms (exact {nearest_rank_p50(in_window):.3f}), TPOT p50 {tpot * 1e3:.4f} ms")  # fmt: skip


def test_a_window_at_the_level_start_is_as_long_as_the_level_and_tpot_needs_two_tokens() -> None:
    raw = LevelRaw()
    tracker = WindowTracker(level=0, start=50.0, streamed=True)
    add(raw, 2000, 2000, 1)  # one token: TPOT undefined
    window = tracker.tick(52.5, raw, 1)

    assert (window.start, window.end, window.requests) == (50.0, 52.5, 1)
    assert window.requests_per_second == pytest.approx(1 / 2.5)
    assert window.tpot_p50_seconds() is None
    empty = tracker.tick(53.0, raw, 1)
    assert empty.ttft.count == 1  # still in the window


def test_not_streamed_there_is_no_tpot() -> None:
    raw = LevelRaw()
    add(raw, 9000, 9000, 30)
    window = WindowTracker(level=0, start=0.0, streamed=False).tick(1.0, raw, 1)
    assert window.tpot_p50_seconds() is None
    assert window.ttft_p50_seconds() == pytest.approx(0.009, rel=LIVE_RELATIVE_ERROR)


def shard_windows(samples: list[tuple[int, int, int]], shards: int, seed: int) -> list[Window]:
    """Deal `samples` to `shards` at random, each shard its own tracker and its own time bounds."""
    rng = random.Random(seed)
    raws = [LevelRaw() for _ in range(shards)]
    for s in samples:
        add(raws[rng.randrange(shards)], *s)
    out = []
    for i, raw in enumerate(raws):
        tracker = WindowTracker(level=2, start=100.0 + i * 0.3, streamed=True)
        out.append(tracker.tick(110.0 + i * 0.5, raw, len(raw) + i))  # shard i also had i errors
    return out


@pytest.mark.parametrize("shards", [1, 2, 3, 7])
def test_merged_windows_are_the_union_exactly_never_an_average(shards: int) -> None:
    rng = random.Random(shards)
    samples = []
    for _ in range(2000):
        ttft = round(rng.lognormvariate(math.log(80_000), 0.8))
        tokens = rng.randint(1, 200)
        samples.append((ttft, ttft + round(rng.uniform(5_000, 30_000)) * max(tokens - 1, 0), tokens))
    windows = shard_windows(samples, shards, seed=shards)

    merged = merge_windows(windows)

    assert merged is not None
    whole = shard_windows(samples, 1, seed=0)[0]
    assert merged.ttft.buckets == whole.ttft.buckets  # bucket counts add: exact
    assert merged.tpot.buckets == whole.tpot.buckets
    assert merged.requests == len(samples) + sum(range(shards))
    assert merged.requests_per_second == pytest.approx(sum(w.requests / w.seconds for w in windows))
    assert (merged.start, merged.end, merged.parts) == (100.0, 110.0 + (shards - 1) * 0.5, shards)
    exact_ttft = nearest_rank_p50([t / 1e6 for t, _, _ in samples])
    tpots = [v / 1e6 for t, e, n in samples if (v := tpot_us(t, e, n)) is not None]
    assert merged.ttft_p50_seconds() == pytest.approx(exact_ttft, rel=LIVE_RELATIVE_ERROR)
    assert merged.tpot_p50_seconds() == pytest.approx(nearest_rank_p50(tpots), rel=LIVE_RELATIVE_ERROR)


def test_a_busy_shard_and_a_slow_one_merge_to_the_median_of_all_not_the_mean_of_medians() -> None:
    fast, slow = LevelRaw(), LevelRaw()
    for _ in range(90):
        add(fast, 10_000, 20_000, 2)
    for _ in range(10):
        add(slow, 1_000_000, 2_000_000, 2)
    windows = [WindowTracker(0, 0.0, True).tick(10.0, raw, len(raw)) for raw in (fast, slow)]

    merged = merge_windows(windows)

    assert merged is not None
    assert merged.ttft_p50_seconds() == pytest.approx(0.010, rel=LIVE_RELATIVE_ERROR)
    assert merged.requests_per_second == pytest.approx(10.0)  # 9/s + 1/s


def test_windows_of_different_levels_do_not_merge() -> None:
    with pytest.raises(ValueError, match="different levels"):
        merge_windows([Window(0, 0, 1, 0, 0.0), Window(1, 0, 1, 0, 0.0)])
    assert merge_windows([]) is None


def test_the_encoding_round_trips_exactly() -> None:
    window = shard_windows([(50_000 + i * 37, 900_000 + i, 1 + i % 50) for i in range(500)], 1, seed=1)[0]
    back = Window.from_json(json.loads(json.dumps(window.to_json())))
    assert back.ttft.buckets == window.ttft.buckets
    assert back.tpot.buckets == window.tpot.buckets
    assert (back.ttft.min, back.ttft.max) == pytest.approx((window.ttft.min, window.ttft.max))
    assert (back.requests, back.start, back.end) == (window.requests, window.start, window.end)
    assert back.ttft_p50_seconds() == window.ttft_p50_seconds()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(requests=-1), "'requests' is not a non-negative integer"),
        (lambda d: d.update(end="soon"), "'end' is not a number"),
        (lambda d: d.update(end=0), "bounds or rate are out of order"),
        (lambda d: d["ttft"].update(k=[1, 2], n=[3]), "two lists of one length"),
        (lambda d: d["ttft"].update(k=[5, 0], n=[1, 1]), "keys must increase"),
        (lambda d: d["ttft"].update(k=list(range(MAX_BUCKETS + 1)), n=[1] * (MAX_BUCKETS + 1)), "buckets, more"),
        (lambda d: d["ttft"].pop("lo"), "lo and hi"),
        (lambda d: d.update(tpot=[]), "not a JSON object"),
    ],
)  # fmt: skip
def test_a_malformed_window_is_refused_with_what_is_wrong(change: object, message: str) -> None:
    data = shard_windows([(50_000, 90_000, 5)] * 3, 1, seed=1)[0].to_json()
    change(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Window.from_json(data)


def encoded_bytes(window: Window) -> int:
    return len(json.dumps(window.to_json(), separators=(", ", ": ")))


def test_the_encoded_window_is_bounded_whatever_the_values() -> None:
    # The worst case: a sample in every bucket from 1 us to an hour (and beyond: clamped), both metrics.
    raw = LevelRaw()
    gamma = (1 + LIVE_RELATIVE_ERROR) / (1 - LIVE_RELATIVE_ERROR)
    value = 1.0001e-6
    while value < 2 * MAX_VALUE_SECONDS:
        us = max(2, round(value * 1e6))
        add(raw, us, us + 2 * us, 3)  # TPOT = TTFT
        value *= gamma
    window = WindowTracker(level=63, start=1.7e9, streamed=True).tick(1.7e9 + 10, raw, 10**6)
    window.ttft.buckets = {k: 10**7 - 1 for k in window.ttft.buckets}  # counts as wide as they get
    window.tpot.buckets = {k: 10**7 - 1 for k in window.tpot.buckets}

    worst = encoded_bytes(window)

    assert len(window.ttft.buckets) <= MAX_BUCKETS
    assert worst <= encoded_size_bound() <= 28 * 1024
    print(f"\nworst case: {len(window.ttft.buckets)} buckets per histogram (bound {MAX_BUCKETS}), "
          f"{worst} bytes (bound {encoded_size_bound()})")  # fmt: skip


def test_a_realistic_window_takes_about_a_kilobyte() -> None:
    # 10 s at 100 requests/s: TTFT around 80 ms (spread x2), TPOT around 20 ms.
    rng = random.Random(7)
    raw = LevelRaw()
    for _ in range(1000):
        ttft = round(rng.lognormvariate(math.log(80_000), 0.35))
        add(raw, ttft, ttft + 255 * round(rng.lognormvariate(math.log(20_000), 0.2)), 256)
    window = WindowTracker(level=3, start=1.7e9, streamed=True).tick(1.7e9 + 10, raw, 1000)

    size = encoded_bytes(window)

    assert size < 2048
    print(f"\nrealistic: {len(window.ttft.buckets)} + {len(window.tpot.buckets)} buckets, {size} bytes")


def test_the_configmap_reporter_sends_the_window_and_requests_per_level() -> None:
    writer = RecordingWriter()
    reporter = ConfigMapReporter(writer, interval_seconds=0.01)
    raw = LevelRaw()
    add(raw, 40_000, 80_000, 5)
    reporter.on_level_start(0, 2, 4)
    reporter.on_progress(4, 4, 0)
    reporter.on_level_start(1, 4, 4)
    reporter.on_progress(1, 4, 1)
    reporter.on_window(WindowTracker(1, time.time() - 1, True).tick(time.time(), raw, 1))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with writer.lock:
            last = progress_of(writer.patches[-1]) if writer.patches else {}
        if "window" in last and last.get("levelRequests") == [4, 1]:
            break
        time.sleep(0.01)
    reporter.on_finished(run_of_nothing())

    window = Window.from_json(last["window"])
    assert window.level == 1
    assert window.requests == 1
    assert last["levelRequests"] == [4, 1]
    assert isinstance(last["levelStart"], float)
    assert "window" not in progress_of(writer.patches[-1])  # a finished shard has no live window


def run_of_nothing() -> RunResult:
    return run_of([])


def test_fan_out_passes_the_window_only_to_those_who_take_it() -> None:
    writer = RecordingWriter()
    taker = ConfigMapReporter(writer, interval_seconds=0.01)
    FanOutReporter([NullReporter(), taker]).on_window(Window(0, 1.0, 2.0, 3, 3.0))
    assert taker._state["window"]["requests"] == 3
    taker.on_finished(run_of_nothing())


def test_workers_windows_merge_into_the_shards() -> None:
    from loadgen.config import build_config

    config = build_config({"target_url": "http://127.0.0.1:9", "levels": [4], "requests_per_level": 8})
    writer = RecordingWriter()
    reporter = ConfigMapReporter(writer, interval_seconds=0.01)
    progress = _ProgressSum(reporter, config)
    progress.update(0, 0, 1, 4)
    a, b = shard_windows([(40_000 + i, 90_000, 5) for i in range(40)], 2, seed=3)
    for w in (a, b):
        w.level = 0
    progress.window(0, a.to_json())
    progress.window(1, b.to_json())
    progress.window(0, Window(5, 1.0, 2.0, 9, 9.0).to_json())  # another level's: not merged

    sent = Window.from_json(reporter._state["window"])
    assert sent.requests == a.requests + b.requests
    assert sent.ttft.buckets == merge_windows([a, b]).ttft.buckets  # type: ignore[union-attr]
    reporter.on_finished(run_of_nothing())


def test_the_progress_bar_shows_the_live_window() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out)
    bar.on_level_start(0, 4, 100)
    raw = LevelRaw()
    add(raw, 45_000, 45_000 + 9 * 12_000, 10)
    bar.on_window(WindowTracker(0, 0.0, True).tick(10.0, raw, 5))
    bar.on_progress(5, 100, 0)
    assert "last 10s: 0.5 req/s, TTFT p50 45.0 ms, TPOT p50 12.0 ms" in out.getvalue().splitlines()[-1]
    bar.on_level_start(1, 8, 100)  # a new level: the old figures are not shown
    assert "TTFT" not in out.getvalue().split("\r")[-1]
