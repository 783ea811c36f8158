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
