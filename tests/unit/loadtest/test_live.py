"""Live progress of a running LoadTest: the shards' windows merged into status.progress (exactly, to the
histograms' stated resolution), and the operator's live gauges set every tick and removed at the end and
on deletion."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from loadgen.live import LIVE_RELATIVE_ERROR, Window, WindowTracker, merge_windows
from loadgen.result import LevelRaw, tpot_us
from loadtest_operator.cli import render
from loadtest_operator.loadtest.live import running_progress
from loadtest_operator.loadtest.shards import ShardPhase, ShardState
from loadtest_operator.reconcile.executor import forget
from tests.unit.loadtest.test_plan import Harness
from tests.unit.operator.specs import OWNER, make_spec

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def window_of(
    level: int, samples: list[tuple[int, int, int]], start: float, end: float, errors: int = 0
) -> Window:
    raw = LevelRaw()
    for ttft, e2e, tokens in samples:
        raw.ttft_us.append(ttft)
        raw.e2e_us.append(e2e)
        raw.output_tokens.append(tokens)
        raw.input_tokens.append(1)
        raw.schedule_lag_us.append(0)
    return WindowTracker(level, start, streamed=True).tick(end, raw, len(samples) + errors)


def report(
    level: int, updated: float, window: Window | None, counts: list[int], started: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"state": "running", "completed": sum(counts), "levelIndex": level,
                           "levelRequests": counts, "levelStart": started, "updated": updated}  # fmt: skip
    if window is not None:
        out["window"] = json.loads(json.dumps(window.to_json()))  # as it crosses the API server
    return out


def samples(rng: random.Random, n: int, ttft_ms: float) -> list[tuple[int, int, int]]:
    out = []
    for _ in range(n):
        ttft = round(rng.lognormvariate(math.log(ttft_ms * 1e3), 0.5))
        out.append((ttft, ttft + 63 * round(rng.uniform(8_000, 12_000)), 64))
    return out


def nearest_rank_p50(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.5 * (len(ordered) - 1))]


def test_shards_merge_exactly_and_a_stale_shard_or_another_levels_is_left_out() -> None:
    rng = random.Random(1)
    now = NOW.timestamp()
    # Shard 0 is busy and fast, shard 1 slow: the merged median is the median of all their requests.
    fast, slow = samples(rng, 300, 40.0), samples(rng, 60, 400.0)
    w0 = window_of(1, fast, now - 10.5, now - 0.5, errors=3)
    w1 = window_of(1, slow, now - 11.0, now - 1.0)
    states = [
        ShardState(0, ShardPhase.RUNNING, progress=report(1, now - 0.5, w0, [100, 303], now - 30)),
        ShardState(1, ShardPhase.RUNNING, progress=report(1, now - 1.0, w1, [100, 60], now - 29)),
        # A shard gone quiet: its old window of this level is not merged, it is listed.
        ShardState(2, ShardPhase.RUNNING, progress=report(1, now - 20, window_of(1, slow, now - 30, now - 20),
                                                          [100, 50], now - 31)),
        # A shard ahead, at the next level: its window is of another level.
        ShardState(3, ShardPhase.RUNNING, progress=report(2, now - 1, window_of(2, fast, now - 5, now - 1),
                                                          [100, 100, 9], now - 4)),
    ]  # fmt: skip
    spec = make_spec(
        {"load": {"levels": [2, 4, 8], "requestsPerLevel": 1000}, "loadGenerator": {"parallelism": 4}}
    )

    progress = running_progress(spec, states, NOW, total_requests=3000)

    assert (progress.current_level_index, progress.current_level) == (1, 4)
    assert progress.level_completed_requests == 303 + 60 + 50 + 100  # exact: each shard's own count
    assert progress.completed_requests == 403 + 160 + 150 + 209
    assert progress.percent == math.floor(100 * 922 / 3000)
    assert progress.stale_shards == [2]
    assert progress.report_time == datetime.fromtimestamp(now - 20, UTC)
    live = progress.live
    assert live is not None
    assert live.shards == 2
    assert live.requests == 303 + 60
    assert live.requests_per_second == pytest.approx(303 / 10 + 60 / 10, abs=1e-3)  # rates add
    assert live.window_seconds == pytest.approx(10.5)
    exact_ttft = nearest_rank_p50([t / 1e3 for t, _, _ in fast + slow])
    exact_tpot = nearest_rank_p50([v / 1e3 for t, e, n in fast + slow if (v := tpot_us(t, e, n)) is not None])
    assert live.ttft_median_milliseconds == pytest.approx(exact_ttft, rel=LIVE_RELATIVE_ERROR)
    assert live.tpot_median_milliseconds == pytest.approx(exact_tpot, rel=LIVE_RELATIVE_ERROR)
    # What averaging the shards' medians would have said instead: far off.
    averaged = (w0.ttft_p50_seconds() + w1.ttft_p50_seconds()) / 2 * 1e3  # type: ignore[operator]
    assert abs(averaged - exact_ttft) > 0.5 * exact_ttft
    print(f"\nmerged TTFT p50 {live.ttft_median_milliseconds} ms (exact nearest-rank {exact_ttft:.3f}; mean of the "
          f"shards' p50s {averaged:.1f}), TPOT p50 {live.tpot_median_milliseconds} ms (exact {exact_tpot:.3f}), "
          f"{live.requests_per_second} req/s over {live.window_seconds} s")  # fmt: skip


@pytest.mark.parametrize("shards", [1, 2, 5])
def test_the_merge_is_the_same_at_any_shard_count(shards: int) -> None:
    rng = random.Random(shards)
    everything = samples(rng, 500, 80.0)
    now = NOW.timestamp()
    parts = [everything[i::shards] for i in range(shards)]
    states = [
        ShardState(i, ShardPhase.RUNNING, progress=report(0, now, window_of(0, p, now - 10, now), [len(p)], now - 12))
        for i, p in enumerate(parts)
    ]  # fmt: skip
    spec = make_spec(
        {"load": {"levels": [2], "requestsPerLevel": 1000}, "loadGenerator": {"parallelism": shards}}
    )

    live = running_progress(spec, states, NOW, 1000).live

    whole = merge_windows([window_of(0, everything, now - 10, now)])
    assert live is not None
    assert whole is not None
    assert live.ttft_median_milliseconds == round(whole.ttft_p50_seconds() * 1e3, 3)  # type: ignore[operator]
    assert live.requests == 500
    assert live.requests_per_second == pytest.approx(50.0)


def test_percent_by_time_when_levels_have_a_duration_and_nothing_before_a_report() -> None:
    now = NOW.timestamp()
    spec = make_spec(
        {"load": {"levels": [2, 4], "requestsPerLevel": None, "levelDurationSeconds": 60}, "loadGenerator": {"parallelism": 2}}
    )  # fmt: skip
    states = [
        ShardState(0, ShardPhase.RUNNING, progress=report(1, now, None, [30, 10], now - 15)),  # 1.25 of 2
        ShardState(1, ShardPhase.RUNNING, progress=report(0, now, None, [20], now - 45)),  # 0.75 of 2
    ]
    assert running_progress(spec, states, NOW, None).percent == 37  # the slowest shard: 0.75 / 2
    starting = [ShardState(0, ShardPhase.RUNNING), ShardState(1, ShardPhase.PENDING)]
    assert running_progress(spec, starting, NOW, None).percent is None
    assert running_progress(spec, starting, NOW, None).live is None


def test_a_window_that_is_not_one_is_left_out_not_guessed() -> None:
    now = NOW.timestamp()
    bad = report(0, now, None, [5], now - 3)
    bad["window"] = {"level": 0, "start": "yesterday"}
    spec = make_spec({"load": {"levels": [2]}, "loadGenerator": {"parallelism": 1}})
    progress = running_progress(spec, [ShardState(0, ShardPhase.RUNNING, progress=bad)], NOW, 200)
    assert progress.live is None
    assert progress.level_completed_requests == 5


# -- through the reconcile: status and the operator's gauges ---------------------------------------------


def gauge(h: Harness, name: str, level: int) -> float | None:
    labels = {"namespace": OWNER.namespace, "loadtest": OWNER.name, "level": str(level)}
    value: float | None = h.metrics.registry.get_sample_value(name, labels)
    return value


LIVE = ("llmload_live_ttft_p50_seconds", "llmload_live_tpot_p50_seconds", "llmload_live_requests_per_second",
        "llmload_live_level_requests")  # fmt: skip


def report_all(h: Harness, level: int, per_shard: int, ttft_ms: float) -> None:
    now = h.now.timestamp() + 5  # the next tick's time
    rng = random.Random(level)
    for shard in range(2):
        counts = [200 // 2] * level + [per_shard]
        w = window_of(level, samples(rng, per_shard, ttft_ms), now - 10, now)
        h.kube.report(shard, progress=json.dumps(report(level, now, w, counts, now - 12)))


def test_live_status_and_gauges_move_each_tick_and_go_at_the_end_and_on_deletion() -> None:
    h = Harness()
    h.tick()  # started
    h.kube.start_pods()
    h.tick()
    seen = []
    for level, per_shard, ttft in ((0, 20, 50.0), (0, 60, 55.0), (1, 30, 90.0)):
        report_all(h, level, per_shard, ttft)
        h.tick()
        progress = h.body["status"]["progress"]
        seen.append(progress)
        assert progress["currentLevelIndex"] == level
        assert progress["levelCompletedRequests"] == 2 * per_shard
        assert gauge(h, "llmload_live_level_requests", (4, 8)[level]) == 2 * per_shard
        ttft_gauge = gauge(h, "llmload_live_ttft_p50_seconds", (4, 8)[level])
        assert ttft_gauge == pytest.approx(progress["live"]["ttftMedianMilliseconds"] / 1e3)
        assert gauge(h, "llmload_live_requests_per_second", (4, 8)[level]) == pytest.approx(
            2 * per_shard / 10
        )
        assert gauge(h, "llmload_live_tpot_p50_seconds", (4, 8)[level]) is not None
    assert seen[0]["live"] != seen[1]["live"]  # it moves
    assert seen[0]["percent"] < seen[1]["percent"] < seen[2]["percent"] < 100
    # Only the current level has live series: level 4's went when level 8 began.
    assert all(gauge(h, name, 4) is None for name in LIVE)

    h.kube.finish(0)
    h.kube.finish(1)
    h.tick()
    status = h.body["status"]
    assert status["progress"]["percent"] == 100
    assert "live" not in status["progress"]
    assert all(gauge(h, name, level) is None for name in LIVE for level in (4, 8))  # live gauges end
    final = {"namespace": OWNER.namespace, "loadtest": OWNER.name, "model": "m", "level": "8"}
    assert h.metrics.registry.get_sample_value("llmload_level_requests_per_second", final) is not None

    forget(h.ctx, OWNER.uid, OWNER.namespace, OWNER.name)
    assert h.metrics.registry.get_sample_value("llmload_level_requests_per_second", final) is None


def test_a_failed_run_drops_its_live_figures_and_gauges() -> None:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    report_all(h, 0, 10, 50.0)
    h.tick()
    assert gauge(h, "llmload_live_level_requests", 4) == 20
    h.kube.report(1, error="boom")
    h.tick()
    assert h.body["status"]["phase"] == "Failed"
    assert "live" not in h.body["status"]["progress"]
    assert all(gauge(h, name, 4) is None for name in LIVE)


def test_deleting_a_running_loadtest_removes_its_live_series() -> None:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    report_all(h, 0, 10, 50.0)
    h.tick()
    assert gauge(h, "llmload_live_ttft_p50_seconds", 4) is not None
    forget(h.ctx, OWNER.uid, OWNER.namespace, OWNER.name)
    assert all(gauge(h, name, 4) is None for name in LIVE)


def test_llmload_show_prints_the_live_progress_of_a_running_loadtest() -> None:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    report_all(h, 1, 30, 90.0)
    h.tick()
    body = {"metadata": {"name": OWNER.name, "namespace": OWNER.namespace}, "status": h.body["status"]}

    text = render(body)

    live = h.body["status"]["progress"]["live"]
    assert "progress: level 8 (#2), 60 requests done in this level, 260 of 400 in the run, 65%" in text
    assert (
        f"live, last 10 s of 2 shard(s): 6.00 req/s, TTFT p50 {live['ttftMedianMilliseconds']:.1f} ms" in text
    )
    assert "TPOT p50" in text
    assert "last report" in text
    print("\n" + text)
    h.kube.finish(0)
    h.kube.finish(1)
    h.tick()
    assert "progress:" not in render({"metadata": body["metadata"], "status": h.body["status"]})


def test_a_report_of_a_level_the_run_does_not_have_is_not_believed() -> None:
    now = NOW.timestamp()
    spec = make_spec({"load": {"levels": [2]}, "loadGenerator": {"parallelism": 1}})
    state = ShardState(0, ShardPhase.RUNNING, progress=report(7, now, None, [1] * 8, now))
    progress = running_progress(spec, [state], NOW, 200)
    assert progress.current_level is None
    assert progress.live is None
