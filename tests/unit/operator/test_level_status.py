"""loadgen's merged levels → status levels: the figures a user reads in `kubectl get -o yaml`."""

from __future__ import annotations

import random

import pytest

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.merge import merge_results
from loadgen.result import LevelRaw, build_level
from loadgen.result import LevelResult as LoadgenLevel
from loadtest_operator.api import LatencyFrom
from loadtest_operator.api.status import (
    MAX_ERROR_KINDS,
    MAX_SATURATION_REASON_LENGTH,
    MAX_SATURATION_REASONS,
    MAX_TURNS_SHOWN,
)
from loadtest_operator.loadtest.level_status import bounded_errors, bounded_reasons, levels_status
from tests.unit.loadgen.helpers import level_from_rows, run_of

SLO = Slo(ttft_ms=50.0, percentile=90)


def rows(n: int, seed: int) -> list[tuple[int, int, int, int, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ttft = rng.randint(10_000, 90_000)
        out.append((ttft, ttft + rng.randint(100_000, 400_000), 64, 128, 0))
    return out


def test_status_levels_carry_the_figures_in_milliseconds() -> None:
    level = level_from_rows(rows(40, 1), errors={"http_500": 2}, slo=SLO, itl_values=[8000.0, 9000.0])
    (status,) = levels_status(run_of([level], SLO))

    summary = level.summary(SLO)
    assert (status.level, status.requests, status.successes) == (4, 42, 40)
    assert status.errors_by_kind == {"http_500": 2}
    assert status.ttft is not None
    assert status.ttft.p50 == round(summary.ttft.p50 or 0, 3)
    assert status.e2e is not None
    assert status.e2e.p99 == round(summary.e2e.p99 or 0, 3)
    assert status.goodput is not None
    assert status.goodput.count == level.goodput_count
    assert status.within_slo is summary.slo_met
    assert status.start is not None
    assert status.start.timestamp() == level.start


def test_without_an_slo_there_is_no_goodput_and_no_verdict() -> None:
    (status,) = levels_status(run_of([level_from_rows(rows(10, 2))]))

    assert status.goodput is None
    assert status.within_slo is None


def test_merged_shards_give_the_same_status_as_the_whole() -> None:
    all_rows = rows(60, 3)
    whole = run_of([level_from_rows(all_rows, slo=SLO)], SLO)
    # Two shards, each with half of the 4 users and of the requests.
    parts = [run_of([level_from_rows(all_rows[i::2], slo=SLO, offered_load=2)], SLO) for i in range(2)]

    (merged,) = levels_status(merge_results(parts))
    # The shards ran over the same window: they overlapped wholly, and otherwise the figures are the whole's.
    assert (merged.shard_overlap, merged.shard_start_spread_milliseconds) == (1.0, 0.0)
    alignment = {"shard_overlap": None, "shard_start_spread_milliseconds": None}
    assert [merged.model_copy(update=alignment)] == levels_status(whole)


def rate_level(
    lags_us: list[int], *, errors: dict[str, int] | None = None, reasons: list[str] | None = None
) -> LoadgenLevel:
    """A Rate-mode level with every figure set: TTFT 100 ms and E2E 400 ms from the send, the given lags,
    a busy event loop, token-count trouble."""
    n = len(lags_us)
    loop_lag = LogHistogram()
    for ms in range(1, 101):
        loop_lag.add(ms / 1000)
    itl = LogHistogram()
    itl.add(0.010, 100)
    return build_level(
        index=0, load_mode="rate", offered_load=20, streamed=True, start=1000.0, end=1010.0,
        requests=n + sum((errors or {}).values()), errors=errors or {},
        raw=LevelRaw(ttft_us=[100_000] * n, e2e_us=[400_000] * n, output_tokens=[31] * n,
                     input_tokens=[10] * n, schedule_lag_us=lags_us),
        itl=itl, loop_lag=loop_lag, token_mismatch_count=3, usage_missing_count=2,
        slo=SLO_RATE, thresholds=SaturationThresholds(), saturated_before=reasons,
    )  # fmt: skip


SLO_RATE = Slo(ttft_ms=200.0, percentile=90)


def test_every_figure_reaches_the_status_level() -> None:
    level = rate_level([0] * 50 + [300_000] * 50, errors={"timeout": 4, "http_503": 1})
    (status,) = levels_status(run_of([level], SLO_RATE))
    summary = level.summary()

    assert status.latency_from is LatencyFrom.SCHEDULED_TIME
    assert status.errors_by_kind == {"http_503": 1, "timeout": 4}
    assert (status.token_mismatches, status.usage_missing) == (3, 2)
    for name, stats in (
        ("ttft", summary.ttft_from_schedule), ("e2e", summary.e2e_from_schedule), ("tpot", summary.tpot),
        ("itl", summary.itl), ("ttft_from_send", summary.ttft), ("e2e_from_send", summary.e2e),
        ("schedule_lag", summary.schedule_lag),
    ):  # fmt: skip
        figure = getattr(status, name)
        assert stats is not None, name
        assert figure is not None, name
        assert (figure.p50, figure.p90, figure.p95, figure.p99, figure.p999, figure.mean) == tuple(
            round(v or 0, 3) for v in (stats.p50, stats.p90, stats.p95, stats.p99, stats.p99_9, stats.mean)
        ), name
    saturation = status.saturation
    assert saturation is not None
    assert saturation.schedule_lag_milliseconds_p99 == 300.0
    assert saturation.loop_lag_milliseconds_p50 == round(level.loop_lag_p50_ms or 0, 3)
    assert saturation.loop_lag_milliseconds_p50 == pytest.approx(51.0, rel=0.01)  # lags 1..100 ms
    assert saturation.loop_lag_milliseconds_p99 == round(level.loop_lag_p99_ms or 0, 3)
    assert saturation.loop_lag_milliseconds_p99 == pytest.approx(99.0, rel=0.01)
    assert saturation.loop_lag_milliseconds_max == pytest.approx(100.0)
    assert status.client_saturated
    assert saturation.reasons == level.saturation_reasons
    assert len(saturation.reasons or []) == 3  # schedule lag p99, loop lag p50 and p99


def test_rate_mode_headline_shows_the_queueing_behind_the_cap() -> None:
    # Half the requests waited 300 ms for a slot; the server answered every one in 100 ms.
    (status,) = levels_status(run_of([rate_level([0] * 50 + [300_000] * 50)], SLO_RATE))

    assert status.ttft is not None
    assert status.ttft_from_send is not None
    assert status.e2e is not None
    assert status.ttft.p90 == 400.0  # from the schedule: 100 ms + 300 ms
    assert status.ttft_from_send.p90 == 100.0
    assert status.e2e.p99 == 700.0
    assert status.goodput is not None
    assert status.goodput.count == 50  # the queued half misses ttft <= 200 ms
    assert status.within_slo is False  # p90 from the schedule is 400 ms


def test_concurrency_mode_has_no_from_send_or_schedule_figures() -> None:
    (status,) = levels_status(run_of([level_from_rows(rows(10, 4))]))

    assert status.latency_from is LatencyFrom.SEND_TIME
    assert (status.ttft_from_send, status.e2e_from_send, status.schedule_lag) == (None, None, None)
    assert status.saturation is None  # no event-loop samples in this hand-made level, no schedule lag


def test_error_kinds_and_saturation_reasons_are_bounded() -> None:
    errors = {f"http_{400 + i}": i + 1 for i in range(MAX_ERROR_KINDS + 10)}
    reasons = [f"shard {i}: event-loop lag p99 {i}.0 ms > 20 ms " + "x" * 400 for i in range(40)]
    level = rate_level([0] * 10, errors=errors, reasons=reasons)
    (status,) = levels_status(run_of([level], SLO_RATE))
    own = [r for r in level.saturation_reasons if not r.startswith("shard ")]  # the merged loop lag's

    kinds = status.errors_by_kind or {}
    assert len(kinds) == MAX_ERROR_KINDS
    assert sum(kinds.values()) == sum(errors.values())  # nothing lost: the rarest add up under other
    assert kinds["other"] == sum(range(1, 12))
    assert kinds[f"http_{400 + MAX_ERROR_KINDS + 9}"] == MAX_ERROR_KINDS + 10
    lines = (status.saturation.reasons if status.saturation else None) or []
    assert len(lines) == MAX_SATURATION_REASONS
    assert all(len(line) <= MAX_SATURATION_REASON_LENGTH for line in lines)
    assert lines[: len(own)] == own  # sorted: they come first
    assert lines[len(own)].startswith("shard 0: ")
    assert lines[len(own)].endswith("…")
    shown = MAX_SATURATION_REASONS - 1
    assert lines[-1].startswith(f"... and {len(reasons) + len(own) - shown} more")


def test_a_few_error_kinds_pass_unchanged() -> None:
    assert bounded_errors({}) is None
    assert bounded_errors({"timeout": 2, "connection": 1}) == {"timeout": 2, "connection": 1}
    assert bounded_reasons([]) is None


def test_a_multi_turn_level_reports_ttft_by_turn_from_1() -> None:
    data = [(10_000, 20_000, 4, 10, 0), (30_000, 40_000, 4, 50, 0), (20_000, 30_000, 4, 12, 0)]
    (status,) = levels_status(run_of([level_from_rows(data, turns=[0, 1, 0])]))
    assert status.ttft_by_turn is not None
    assert [(t.turn, t.requests, t.mean) for t in status.ttft_by_turn] == [(1, 2, 15.0), (2, 1, 30.0)]
    (single,) = levels_status(run_of([level_from_rows(data)]))
    assert single.ttft_by_turn is None


def test_a_level_not_streamed_has_no_ttft_tpot_or_itl() -> None:
    (status,) = levels_status(run_of([level_from_rows(rows(10, 2), streamed=False)]))
    assert (status.ttft, status.tpot, status.itl) == (None, None, None)
    assert status.e2e is not None


def test_turns_past_the_shown_ones_share_the_last_entry() -> None:
    turns = list(range(12))  # one request per turn, TTFT 10 ms times the turn's number
    data = [(10_000 * (t + 1), 20_000 * (t + 1), 4, 10, 0) for t in turns]
    (status,) = levels_status(run_of([level_from_rows(data, turns=turns)]))
    by_turn = status.ttft_by_turn or []
    assert [t.turn for t in by_turn] == list(range(1, MAX_TURNS_SHOWN + 1))
    assert by_turn[-1].requests == 12 - (MAX_TURNS_SHOWN - 1)
    assert by_turn[-1].mean == pytest.approx(sum(10.0 * (t + 1) for t in turns[MAX_TURNS_SHOWN - 1 :]) / 5)
