"""The level search: table tests of each rule, and a property test on a simulated server with a known knee."""

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtest_operator.api import SearchMode
from loadtest_operator.capacity.search import Done, Measure, SearchSettings, level_verdict, next_step

AUTO = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95)


@pytest.mark.parametrize(
    ("goodputs", "repeats", "expected"),
    [
        ([96.0], 1, True),
        ([95.0], 1, True),  # meeting the goal exactly counts
        ([94.9], 1, False),
        ([99.0], 3, None),  # more repeats to go
        ([99.0, 90.0], 3, False),  # one bad repeat is enough
        ([99.0, 97.0, 95.5], 3, True),
    ],
)
def test_level_verdict(goodputs: list[float], repeats: int, expected: bool | None) -> None:
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, repeats=repeats)
    assert level_verdict(goodputs, settings_) is expected


@pytest.mark.parametrize(
    ("trace", "expected"),
    [
        ({}, Measure(1, 0)),
        ({1: [100.0]}, Measure(2, 0)),
        ({1: [100.0], 2: [100.0], 4: [99.0]}, Measure(8, 0)),
        ({1: [100.0], 2: [100.0], 4: [99.0], 8: [50.0]}, Measure(6, 0)),
        ({1: [100], 2: [100], 4: [99], 8: [50], 6: [96]}, Measure(7, 0)),
        (
            {1: [100], 2: [100], 4: [99], 8: [50], 6: [96], 7: [90]},
            Done(6, lower_bound=False, converged=True),
        ),
        ({1: [10.0]}, Done(None, lower_bound=False, converged=True)),
        # order of measurement does not matter, and extra good levels above the first bad are ignored
        ({8: [50], 1: [100], 16: [99], 6: [96], 7: [90], 2: [100], 4: [99]}, Done(6, False, True)),
    ],
)
def test_auto_from_start_one(trace: dict[int, list[float]], expected: object) -> None:
    assert next_step(AUTO, trace) == expected


def test_auto_bisects_below_a_failing_start_level() -> None:
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, start_level=16)
    assert next_step(settings_, {}) == Measure(16, 0)
    assert next_step(settings_, {16: [10.0]}) == Measure(8, 0)
    assert next_step(settings_, {16: [10.0], 8: [99.0]}) == Measure(12, 0)
    assert next_step(settings_, {16: [10.0], 8: [10], 4: [10], 2: [10], 1: [10]}) == Done(None, False, True)


def test_auto_stops_at_max_levels_with_a_lower_bound() -> None:
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, max_levels=3)
    assert next_step(settings_, {1: [100], 2: [100], 4: [100]}) == Done(4, lower_bound=True, converged=False)
    assert next_step(settings_, {1: [100], 2: [100], 4: [10]}) == Done(2, lower_bound=True, converged=False)


def test_auto_stops_at_the_level_cap() -> None:
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, start_level=40, max_level=100)
    assert next_step(settings_, {40: [100], 80: [100]}) == Measure(100, 0)
    assert next_step(settings_, {40: [100], 80: [100], 100: [100]}) == Done(100, True, False)


def test_repeats_finish_a_level_before_moving_on() -> None:
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, repeats=3)
    assert next_step(settings_, {1: [100.0]}) == Measure(1, 1)
    assert next_step(settings_, {1: [100.0, 99.0]}) == Measure(1, 2)
    assert next_step(settings_, {1: [100.0, 99.0, 98.0]}) == Measure(2, 0)
    # a bad repeat settles the level at once: the other repeats are skipped
    assert next_step(settings_, {1: [100.0] * 3, 2: [50.0]}) == Done(1, False, True)


@pytest.mark.parametrize(
    ("trace", "expected"),
    [
        ({}, Measure(4, 0)),
        ({4: [99]}, Measure(8, 0)),
        ({4: [99], 8: [99]}, Measure(16, 0)),
        ({4: [99], 8: [99], 16: [10]}, Done(8, False, True)),
        ({4: [10]}, Done(None, False, True)),
        ({4: [99], 8: [99], 16: [99]}, Done(16, True, True)),
    ],
)
def test_given_levels(trace: dict[int, list[float]], expected: object) -> None:
    settings_ = SearchSettings(mode=SearchMode.LEVELS, goodput_percent=95, levels=(4, 8, 16))
    assert next_step(settings_, trace) == expected


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, repeats=0)
    with pytest.raises(ValueError, match="levels"):
        SearchSettings(mode=SearchMode.LEVELS, goodput_percent=95)


def simulate(settings_: SearchSettings, is_good: Callable[[int], bool]) -> tuple[Done, list[int]]:
    """Run the search to the end against a server; returns the result and the levels measured in order."""
    trace: dict[int, list[float]] = {}
    order: list[int] = []
    for _ in range(10_000):
        step = next_step(settings_, trace)
        if isinstance(step, Done):
            return step, order
        assert step.repeat == len(trace.get(step.level, [])), "a finished measurement was asked again"
        if step.repeat == 0:
            assert step.level not in trace, "a finished level was measured again"
            order.append(step.level)
        trace.setdefault(step.level, []).append(100.0 if is_good(step.level) else 0.0)
    raise AssertionError("the search did not end")


@settings(max_examples=300, deadline=None)
@given(knee=st.integers(min_value=0, max_value=5_000), start=st.integers(min_value=1, max_value=64))
def test_auto_finds_the_knee_of_a_monotone_server(knee: int, start: int) -> None:
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, start_level=start, max_levels=64)
    done, order = simulate(settings_, lambda level: level <= knee)
    # Within one search step (1) of the true knee; for a monotone server, exactly it.
    assert done.knee == (knee or None)
    assert done.converged
    assert not done.lower_bound
    # O(log knee): the ramp and the bisection each take at most about log2 of the larger of knee and start.
    assert len(order) <= 2 * max(knee, start).bit_length() + 2
    assert len(order) == len(set(order))


@settings(max_examples=200, deadline=None)
@given(
    knee=st.integers(min_value=1, max_value=2_000),
    repeats=st.integers(min_value=1, max_value=4),
    noisy=st.integers(min_value=0, max_value=3),
)
def test_a_bad_repeat_makes_a_level_bad(knee: int, repeats: int, noisy: int) -> None:
    # A server that is good up to the knee, except that `noisy` levels just below it fail their last repeat:
    # the knee found is then the highest level below the lowest such level the search happened to meet,
    # never above the true knee, and every level judged good passed every repeat.
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, repeats=repeats, max_levels=64)
    flaky = {knee - i for i in range(noisy) if knee - i >= 1}
    trace: dict[int, list[float]] = {}
    for _ in range(10_000):
        step = next_step(settings_, trace)
        if isinstance(step, Done):
            break
        last_repeat = step.repeat == repeats - 1
        good = step.level <= knee and not (step.level in flaky and last_repeat)
        trace.setdefault(step.level, []).append(100.0 if good else 0.0)
    assert isinstance(step, Done)
    if step.knee is not None:
        assert step.knee <= knee
        assert all(g >= 95 for g in trace[step.knee])
        assert len(trace[step.knee]) == repeats


def test_simulation_catches_a_wrong_knee() -> None:
    # the property test's oracle can fail: an always-good server is reported as a lower bound, not a knee
    settings_ = SearchSettings(mode=SearchMode.AUTO, goodput_percent=95, max_levels=5)
    done, _ = simulate(settings_, lambda level: True)
    assert done.lower_bound
    assert done.knee == 16
