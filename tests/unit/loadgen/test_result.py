"""Per-level figures derived from raw data: TPOT, throughput, goodput, saturation, summaries."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.result import LevelRaw, SloTally, build_level, tpot_us
from loadgen.stats import percentile

from .helpers import level_from_rows


def test_tpot_is_decode_time_per_token_after_the_first() -> None:
    assert tpot_us(100_000, 1_100_000, 101) == 10_000
    assert tpot_us(100_000, 100_000, 1) is None


def test_throughput_is_over_the_measured_window() -> None:
    level = level_from_rows(
        [(100_000, 1_000_000, 100, 50, 0)] * 20, start=0.0, end=4.0, errors={"timeout": 5}
    )
    assert level.requests == 25
    assert level.successes == 20
    assert level.request_throughput == 5.0
    assert level.output_token_throughput == 500.0
    assert level.total_token_throughput == 750.0


def test_goodput_counts_requests_meeting_every_slo() -> None:
    slo = Slo(ttft_ms=200, tpot_ms=10)
    rows = [
        (100_000, 1_090_000, 100, 10, 0),  # TPOT 10 ms, TTFT 100: good
        (300_000, 1_000_000, 100, 10, 0),  # TTFT over
        (100_000, 2_100_000, 100, 10, 0),  # TPOT 20.2 ms: over
        (150_000, 150_000, 1, 10, 0),  # one token: TPOT undefined, TTFT fine: good
    ]
    level = level_from_rows(rows, start=0.0, end=2.0, errors={"http_500": 1}, slo=slo)
    assert level.goodput_count == 2
    assert level.goodput_per_second == 1.0
    assert level.goodput_share == pytest.approx(2 / 5)


def test_summary_reports_percentiles_in_ms_and_the_slo_verdict() -> None:
    rows = [(t * 1000, t * 1000 + 1_000_000, 101, 10, 0) for t in range(1, 101)]  # TTFT 1..100 ms
    level = level_from_rows(rows, itl_values=[0.01] * 10)
    summary = level.summary(Slo(ttft_ms=99.5, percentile=99))
    assert summary.ttft.p50 == pytest.approx(50.5)
    assert summary.ttft.p99 == pytest.approx(99.01)
    assert summary.ttft.min == 1.0
    assert summary.tpot.mean == pytest.approx(10.0)
    assert summary.itl.mean == pytest.approx(10.0)
    assert summary.ttft_from_schedule is None
    assert summary.slo_met is True
    assert level.summary(Slo(ttft_ms=98, percentile=99)).slo_met is False


def test_rate_mode_reports_latency_from_schedule() -> None:
    rows = [(100_000, 500_000, 10, 10, 20_000), (100_000, 500_000, 10, 10, 0)]
    summary = level_from_rows(rows, load_mode="rate").summary()
    assert summary.schedule_lag is not None
    assert summary.schedule_lag.max == 20.0
    assert summary.ttft_from_schedule is not None
    assert summary.ttft_from_schedule.max == 120.0
    assert summary.e2e_from_schedule is not None
    assert summary.e2e_from_schedule.mean == 510.0


def test_client_saturation_is_flagged_with_reasons() -> None:
    lag = LogHistogram()
    for _ in range(100):
        lag.add(0.05)
    level = build_level(
        index=0, load_mode="rate", offered_load=10, streamed=True, start=0.0, end=1.0, requests=1, errors={},
        raw=LevelRaw(ttft_us=[1], e2e_us=[2], output_tokens=[1], input_tokens=[1], schedule_lag_us=[30_000]),
        itl=LogHistogram(), loop_lag=lag, token_mismatch_count=0, usage_missing_count=0, slo=Slo(),
        thresholds=SaturationThresholds(),
    )  # fmt: skip
    assert level.client_saturated
    assert len(level.saturation_reasons) == 3  # schedule lag p99, loop lag p50 and p99
    assert level.schedule_lag_p99_ms == 30.0
    assert level.loop_lag_p99_ms == pytest.approx(50.0, rel=0.01)


def test_a_level_within_thresholds_is_not_flagged() -> None:
    level = level_from_rows([(1, 2, 1, 1, 0)])
    assert not level.client_saturated
    assert level.saturation_reasons == []


# One request sent 150 ms late (queued behind the in-flight cap), answered 100 ms after its send.
LATE = (100_000, 400_000, 31, 10, 150_000)
ON_TIME = (100_000, 400_000, 31, 10, 0)


def test_rate_mode_goodput_counts_from_the_scheduled_time() -> None:
    slo = Slo(ttft_ms=200, e2e_ms=1000)
    rate = level_from_rows([LATE, ON_TIME], load_mode="rate", slo=slo)
    assert rate.goodput_count == 1  # the late one took 250 ms from its schedule
    concurrency = level_from_rows([LATE, ON_TIME], slo=slo)
    assert concurrency.goodput_count == 2  # no schedule: the lag column is not read
    e2e_only = level_from_rows([(100_000, 900_000, 31, 10, 150_000)], load_mode="rate", slo=Slo(e2e_ms=1000))
    assert e2e_only.goodput_count == 0  # 1,050 ms from its schedule


def test_rate_mode_slo_verdict_and_headline_count_from_the_scheduled_time() -> None:
    level = level_from_rows([LATE] * 10, load_mode="rate")
    summary = level.summary(Slo(ttft_ms=200, percentile=90))
    assert summary.slo_met is False
    assert summary.headline_ttft.p90 == pytest.approx(250.0)
    assert summary.ttft.p90 == pytest.approx(100.0)  # from the send, kept
    assert summary.headline_e2e.mean == pytest.approx(550.0)
    assert summary.tpot.mean == pytest.approx(10.0)  # (400 - 100) / 30: the lag cancels
    assert level.summary(Slo(ttft_ms=260, percentile=90)).slo_met is True
    concurrency = level_from_rows([ON_TIME] * 10).summary(Slo(ttft_ms=200))
    assert concurrency.slo_met is True
    assert concurrency.headline_ttft == concurrency.ttft


def test_without_a_stream_ttft_tpot_and_itl_are_absent_not_zero() -> None:
    rows = [(90_000, 100_000, 8, 10, 0), (180_000, 200_000, 8, 10, 0)]
    slo = Slo(ttft_ms=1, tpot_ms=1, e2e_ms=150)
    whole = level_from_rows(rows, streamed=False, slo=slo)
    summary = whole.summary(slo)
    assert (summary.ttft.count, summary.ttft.p50) == (0, None)
    assert (summary.tpot.count, summary.itl.count) == (0, 0)
    assert summary.e2e.count == 2
    # Only the E2E objective can be judged: one of the two requests meets it.
    assert whole.goodput_count == 1
    assert summary.slo_met is False


def test_ttft_is_reported_per_turn() -> None:
    rows = [(t, 2 * t, 4, 10, 0) for t in (10_000, 20_000, 30_000, 40_000, 50_000)]
    level = level_from_rows(rows, turns=[0, 1, 0, 1, 2])
    by_turn = level.summary().ttft_by_turn
    assert by_turn is not None
    assert [(s.count, s.mean) for s in by_turn] == [(2, 20.0), (2, 30.0), (1, 50.0)]
    assert level_from_rows(rows).summary().ttft_by_turn is None  # single requests: no per-turn figure


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 2_000_000), min_size=1, max_size=60),
    st.integers(0, 59),
    st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9, 37.5]),
    st.integers(-2, 2),
)
def test_an_slo_tally_decides_exactly_what_the_exact_percentile_does(
    values: list[int], pick: int, q: float, nudge: int
) -> None:
    # Thresholds at and around the samples themselves: where a verdict can go either way.
    threshold_ms = (values[pick % len(values)] + nudge) * 1e-3
    exact = not (percentile(sorted(float(v) for v in values), q) * 1e-3 > threshold_ms)
    tally = SloTally.of(values, threshold_ms)
    assert tally.holds(q) is exact
    halves = SloTally.of(values[: pick % len(values)], threshold_ms).merged(
        SloTally.of(values[pick % len(values) :], threshold_ms)
    )
    assert halves == tally
