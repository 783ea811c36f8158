import itertools
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.arrivals import arrival_offsets, constant_phase


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(st.integers(1, 5000), st.floats(0, 1))
def test_constant_arrivals_are_evenly_spaced(rate: int, phase: float) -> None:
    offsets = list(itertools.islice(arrival_offsets("constant", rate, random.Random(0), phase), 50))
    for i, t in enumerate(offsets):
        assert t == pytest.approx(phase + i / rate)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 2000), st.integers(0, 2**32))
def test_poisson_arrivals_have_the_rate_and_exponential_gaps(rate: int, seed: int) -> None:
    n = 20_000
    offsets = list(itertools.islice(arrival_offsets("poisson", rate, random.Random(seed)), n))
    gaps = [b - a for a, b in itertools.pairwise([0.0, *offsets])]
    mean = statistics.fmean(gaps)
    # Standard error of the mean gap is (1/rate)/sqrt(n) = 0.7 %; 5 % is over 7 sigma.
    assert mean == pytest.approx(1 / rate, rel=0.05)
    # An exponential distribution has its standard deviation equal to its mean.
    assert statistics.pstdev(gaps) == pytest.approx(mean, rel=0.05)
    assert all(g >= 0 for g in gaps)


def test_poisson_arrivals_are_reproducible_for_a_seed() -> None:
    def first(seed: int) -> list[float]:
        return list(itertools.islice(arrival_offsets("poisson", 10, random.Random(seed)), 5))

    assert first(7) == first(7)
    assert first(7) != first(8)


def test_staggered_constant_shards_interleave_into_one_even_stream() -> None:
    total_rate, shards = 12, 3
    times = sorted(
        t
        for i in range(shards)
        for t in itertools.islice(
            arrival_offsets(
                "constant", total_rate // shards, random.Random(0), constant_phase(i, shards, total_rate)
            ),
            20,
        )
    )
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([1 / total_rate] * len(gaps))


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        next(arrival_offsets("constant", 0, random.Random(0)))
