import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.stats import describe, percentile


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0  # position 1.5
    assert percentile(values, 90) == pytest.approx(37.0)  # position 2.7


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))


def test_describe_scales_and_orders() -> None:
    stats = describe([3000, 1000, 2000], scale=1e-3)
    assert (stats.count, stats.min, stats.max, stats.mean, stats.p50) == (3, 1.0, 3.0, 2.0, 2.0)


def test_describe_of_nothing_has_no_figures() -> None:
    stats = describe([])
    assert stats.count == 0
    assert stats.p99 is None


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(st.lists(st.integers(0, 10**9), min_size=1), st.floats(0, 100))
def test_percentile_lies_within_the_data(values: list[int], q: float) -> None:
    ordered = sorted(values)
    assert ordered[0] <= percentile(ordered, q) <= ordered[-1]
