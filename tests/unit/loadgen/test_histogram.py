import math

from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.histogram import RELATIVE_ERROR, LogHistogram

values_s = st.floats(min_value=2e-6, max_value=100.0, allow_nan=False)


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(values_s)
def test_a_recorded_value_is_reported_within_the_relative_error(value: float) -> None:
    hist = LogHistogram()
    hist.add(value)
    hist.add(value * 1000)  # another bucket, so the answer is not just the clamped min
    reported = hist.quantile(0)
    assert abs(reported - value) <= RELATIVE_ERROR * value * (1 + 1e-9)


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(st.lists(values_s, min_size=1, max_size=200), st.floats(0, 100))
def test_quantile_is_within_the_relative_error_of_the_exact_rank(values: list[float], q: float) -> None:
    hist = LogHistogram()
    for v in values:
        hist.add(v)
    exact = sorted(values)[round(q / 100 * (len(values) - 1))]
    assert abs(hist.quantile(q) - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9)


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(st.lists(values_s, max_size=100), st.lists(values_s, max_size=100))
def test_merging_equals_recording_everything_in_one(a: list[float], b: list[float]) -> None:
    whole, left, right = LogHistogram(), LogHistogram(), LogHistogram()
    for v in a:
        whole.add(v)
        left.add(v)
    for v in b:
        whole.add(v)
        right.add(v)
    left.merge(right)
    assert left.to_data() == whole.to_data()


def test_values_below_a_microsecond_count_as_zero_and_round_trip() -> None:
    hist = LogHistogram()
    hist.add(0.0, 5)
    hist.add(0.01)
    data = hist.to_data()
    assert data.zero_count == 5
    assert data.count == 6
    assert hist.quantile(50) == 0.0
    assert LogHistogram.from_data(data).to_data() == data
    assert hist.mean == 0.01 / 6


def _exact_percentile(values: list[float], q: float) -> float:
    from loadgen.stats import percentile

    return percentile(sorted(values), q)


@settings(deadline=None)
@given(st.lists(values_s, min_size=1, max_size=300), st.floats(0, 100))
def test_percentile_is_within_the_relative_error_of_the_exact_interpolated_percentile(
    values: list[float], q: float
) -> None:
    hist = LogHistogram()
    for v in values:
        hist.add(v)
    exact = _exact_percentile(values, q)
    assert abs(hist.percentile(q) - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9)


@settings(deadline=None)
@given(st.lists(st.integers(0, 10**10), min_size=1, max_size=300), st.floats(0, 100), st.integers(0, 4))
def test_coarsened_histograms_keep_their_own_stated_error(values_us: list[int], q: float, times: int) -> None:
    hist = LogHistogram()
    hist.add_counts_us(values_us)
    for _ in range(times):
        hist = hist.coarsened()
    exact = _exact_percentile([v / 1e6 for v in values_us], q)
    # Values at or below 1 us count as 0: within 1 us absolute there.
    assert abs(hist.percentile(q) - exact) <= hist.relative_error * exact * (1 + 1e-9) + 1e-6
    assert (hist.count, hist.sum_ns) == (len(values_us), sum(values_us) * 1000)


@settings(deadline=None)
@given(st.lists(values_s, max_size=100), st.lists(values_s, max_size=100), st.integers(1, 3))
def test_histograms_of_different_resolutions_merge_at_the_coarser(
    a: list[float], b: list[float], times: int
) -> None:
    fine, coarse, whole = LogHistogram(), LogHistogram(), LogHistogram()
    for v in a:
        fine.add(v)
        whole.add(v)
    for v in b:
        coarse.add(v)
        whole.add(v)
    for _ in range(times):
        coarse, whole = coarse.coarsened(), whole.coarsened()
    assert fine.merged_with(coarse).to_data() == whole.to_data()
    assert coarse.merged_with(fine).to_data() == whole.to_data()


def test_many_values_in_microseconds_give_the_histogram_of_adding_each() -> None:
    one, many = LogHistogram(), LogHistogram()
    values = [0, 1, 2, 999, 1000, 1001, 123_456, 123_456, 10**9]
    for v in values:
        one.add(v / 1e6)
    many.add_counts_us(values)
    assert one.to_data() == many.to_data()


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(st.lists(values_s, min_size=2, max_size=200))
def test_stddev_is_within_the_relative_error_of_the_exact_one(values: list[float]) -> None:
    # Each representative is within RELATIVE_ERROR * v of its value, so (triangle inequality) the
    # standard deviation moves by at most RELATIVE_ERROR * sqrt(sum v^2 / (n - 1)).
    hist = LogHistogram()
    for v in values:
        hist.add(v)
    n = len(values)
    mean = math.fsum(values) / n
    exact = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    bound = RELATIVE_ERROR * math.sqrt(math.fsum(v * v for v in values) / (n - 1)) + 1e-8
    reported = hist.stddev()
    assert reported is not None
    assert abs(reported - exact) <= bound


def test_stddev_needs_two_values() -> None:
    hist = LogHistogram()
    assert hist.stddev() is None
    hist.add(0.25)
    assert hist.stddev() is None
    hist.add(0.25)
    assert hist.stddev() == 0.0
