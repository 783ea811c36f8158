"""Exact percentiles from sorted chunks (loadgen/stats.py) equal those of one sort of all the values: the
operator's merge thread never holds the GIL for one long sort, and no figure changes."""

from __future__ import annotations

import random

import pytest

from loadgen.stats import PERCENTILES, SORT_CHUNK, describe, exact_percentiles, kth_smallest, percentile


@pytest.mark.parametrize("seed", range(4))
def test_chunked_percentiles_equal_one_sorts(seed: int) -> None:
    rng = random.Random(seed)
    n = SORT_CHUNK * 3 + rng.randint(1, SORT_CHUNK)
    values: list[float] = (
        [rng.randint(0, 50) for _ in range(n)]  # many duplicates
        if seed % 2
        else [rng.lognormvariate(11, 0.8) for _ in range(n)]
    )
    ordered = sorted(values)
    assert exact_percentiles(values, PERCENTILES) == [percentile(ordered, q) for q in PERCENTILES]
    chunks = [sorted(values[i : i + 1000]) for i in range(0, n, 1000)]
    for k in (0, 1, n // 2, n - 2, n - 1):
        assert kth_smallest(chunks, k) == ordered[k]
    stats = describe(values)
    assert (stats.min, stats.max, stats.count) == (ordered[0], ordered[-1], n)


def test_small_and_single_valued_lists() -> None:
    assert exact_percentiles([3.0], (50, 99)) == [3.0, 3.0]
    many = [7] * (SORT_CHUNK * 2 + 5)
    assert exact_percentiles(many, PERCENTILES) == [7] * len(PERCENTILES)
