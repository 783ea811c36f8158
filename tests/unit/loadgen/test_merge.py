"""Merging parts equals computing over the whole: exact percentiles, never averaged."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.config import Slo
from loadgen.histogram import RELATIVE_ERROR
from loadgen.merge import merge_results

from .helpers import level_from_rows, run_of

row = st.tuples(
    st.integers(1, 5_000_000),  # ttft us
    st.integers(0, 60_000_000),  # decode time us (added to ttft for e2e)
    st.integers(1, 2048),  # output tokens
    st.integers(1, 8192),  # input tokens
    st.integers(0, 100_000),  # schedule lag us
).map(lambda r: (r[0], r[0] + r[1], r[2], r[3], r[4]))
itl = st.floats(0, 2.0, allow_nan=False)
part = st.tuples(
    st.lists(row, max_size=40),
    st.lists(itl, max_size=40),
    st.floats(0, 100),  # start offset
    st.floats(0.1, 100),  # duration
    st.dictionaries(st.sampled_from(["http_500", "timeout", "connection"]), st.integers(0, 5)),
)
SLO = Slo(ttft_ms=1000, tpot_ms=30, e2e_ms=20_000)


@settings(max_examples=60, deadline=None)
@given(st.lists(part, min_size=1, max_size=5), st.sampled_from(["concurrency", "rate"]))
def test_merging_parts_equals_computing_over_the_whole(
    parts: list[tuple[list[tuple[int, int, int, int, int]], list[float], float, float, dict[str, int]]],
    mode: str,
) -> None:
    levels = [
        level_from_rows(rows, start=s, end=s + d, errors=errs, itl_values=itls, slo=SLO, load_mode=mode)
        for rows, itls, s, d, errs in parts
    ]
    merged = merge_results([run_of([lv], SLO) for lv in levels]).levels[0]

    active = [(s, s + d) for rows, _, s, d, errs in parts if rows or any(errs.values())] or [
        (s, s + d) for _, _, s, d, _ in parts
    ]
    errors: dict[str, int] = {}
    for *_, errs in parts:
        for k, v in errs.items():
            errors[k] = errors.get(k, 0) + v
    whole = level_from_rows(
        [r for rows, *_ in parts for r in rows],
        start=min(a for a, _ in active),
        end=max(b for _, b in active),
        errors=errors,
        itl_values=[v for _, itls, *_ in parts for v in itls],
        slo=SLO,
        load_mode=mode,
    )
    assert merged.summary(SLO) == whole.summary(SLO)
    for field in ("requests", "successes", "errors", "goodput_count", "start", "end", "output_tokens_total"):
        assert getattr(merged, field) == getattr(whole, field)
    assert merged.request_throughput == pytest.approx(whole.request_throughput)
    assert merged.goodput_per_second == pytest.approx(whole.goodput_per_second)
    assert merged.itl == whole.itl
    assert merged.parts == len(parts)


def test_merge_never_averages_percentiles() -> None:
    fast = level_from_rows([(10_000, 20_000, 2, 1, 0)] * 99)
    slow = level_from_rows([(1_000_000, 2_000_000, 2, 1, 0)])
    merged = merge_results([run_of([fast]), run_of([slow])]).levels[0]
    summary = merged.summary()
    assert summary.ttft.p50 == 10.0  # the average of the parts' p50s would be 505 ms
    assert summary.ttft.max == 1000.0


def test_merge_rejects_results_that_do_not_belong_together() -> None:
    one = run_of([level_from_rows([(1, 2, 1, 1, 0)])])
    two = run_of([level_from_rows([(1, 2, 1, 1, 0)]), level_from_rows([(1, 2, 1, 1, 0)])])
    with pytest.raises(ValueError, match="numbers of levels"):
        merge_results([one, two])
    with pytest.raises(ValueError, match="at least one"):
        merge_results([])


# -- past the raw limit: histograms and tallies ---------------------------------------------------------------


def _skewed_shards(draw: st.DrawFn) -> list[list[tuple[int, int, int, int, int]]]:
    """One shard of up to 400 requests and up to 7 of 0 to 5: shards of very different sizes."""
    big = draw(st.lists(row, min_size=1, max_size=400))
    small = draw(st.lists(st.lists(row, max_size=5), max_size=7))
    shards = [big, *small]
    return draw(st.permutations(shards))


skewed = st.composite(_skewed_shards)()
FIGURES = ("p50", "p90", "p95", "p99", "p99_9")


@settings(max_examples=80, deadline=None)
@given(skewed, st.sampled_from(["concurrency", "rate"]), st.sampled_from([50, 90, 99]))
def test_merged_histogram_percentiles_are_within_their_error_of_the_exact_ones(
    shards: list[list[tuple[int, int, int, int, int]]], mode: str, q: int
) -> None:
    slo = Slo(ttft_ms=800, tpot_ms=25, e2e_ms=30_000, percentile=q)
    levels = [level_from_rows(rows, slo=slo, load_mode=mode) for rows in shards]
    merged = merge_results([run_of([lv], slo) for lv in levels], raw_limit=0).levels[0]
    whole = level_from_rows([r for rows in shards for r in rows], slo=slo, load_mode=mode)
    assert not merged.exact
    assert whole.exact
    # Counts, goodput and the SLO verdict add up exactly; the histograms are the whole's, bucket for bucket.
    for field in ("requests", "successes", "goodput_count", "input_tokens_total", "output_tokens_total"):
        assert getattr(merged, field) == getattr(whole, field)
    assert merged.histograms == whole.histograms
    assert merged.slo_tallies == whole.slo_tallies
    got, exact = merged.summary(slo), whole.summary(slo)
    assert got.slo_met is exact.slo_met
    names = ["ttft", "tpot", "e2e"] + (
        ["ttft_from_schedule", "e2e_from_schedule", "schedule_lag"] if mode == "rate" else []
    )
    for name in names:
        a, b = getattr(exact, name), getattr(got, name)
        assert a.count == b.count
        if a.count == 0:
            continue
        assert b.mean == pytest.approx(a.mean, abs=1e-6)  # exact to the nanosecond
        assert (b.min, b.max) == pytest.approx((a.min, a.max), abs=1e-9)
        for figure in FIGURES:
            want, have = getattr(a, figure), getattr(b, figure)
            # 0.5 % relative, or 1 us absolute for values at or below 1 us (the zero bucket).
            assert abs(have - want) <= RELATIVE_ERROR * want * (1 + 1e-9) + 1e-3, (name, figure, want, have)


def test_the_raw_values_are_kept_up_to_the_limit_and_dropped_past_it() -> None:
    rows = [(10_000 + i, 20_000 + i, 2, 1, 0) for i in range(10)]
    parts = [run_of([level_from_rows(rows)]) for _ in range(3)]
    assert merge_results(parts, raw_limit=30).levels[0].exact
    dropped = merge_results(parts, raw_limit=29).levels[0]
    assert (dropped.exact, len(dropped.raw), dropped.successes) == (False, 0, 30)
    assert merge_results(parts, raw_limit=None).levels[0].exact
