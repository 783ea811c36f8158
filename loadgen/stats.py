"""Percentiles and summary statistics over exact samples (pure functions)."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
# Samples sorted per call to sorted(): one C call holds the GIL throughout, and the operator merges a
# million samples in a worker thread while its event loop must keep ticking (issue 20: a single sort of
# 250,000 samples blocked the loop 136 ms). A chunk of this size sorts in a few milliseconds.
SORT_CHUNK = 16_384


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Hyndman-Fan type 7).

    Depends only on the multiset of values, so any split-and-concatenate of the
    samples gives exactly the same figure.
    """
    n = len(sorted_values)
    if n == 0:
        return math.nan
    position = (n - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, n - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


class MetricStats(BaseModel):
    """One metric's distribution, in milliseconds."""

    count: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None
    # Sample standard deviation (n - 1), ms: what a Welch's t-test between two runs needs (the results
    # service's compare). None below two samples, and where only a histogram was kept (ITL).
    stddev: float | None = None


def exact_percentile(values: Sequence[float], q: float) -> float:
    """`percentile(sorted(values), q)`, without one long sort of a large list (SORT_CHUNK)."""
    return exact_percentiles(values, (q,))[0]


def exact_percentiles(values: Sequence[float], qs: Iterable[float]) -> list[float]:
    """`[percentile(sorted(values), q) for q in qs]`: the same figures, from sorted chunks of the values
    and the order statistics the percentiles need (no sort longer than a chunk)."""
    qs = list(qs)
    n = len(values)
    if n <= SORT_CHUNK:
        ordered = sorted(values)
        return [percentile(ordered, q) for q in qs]
    chunks = [sorted(values[i : i + SORT_CHUNK]) for i in range(0, n, SORT_CHUNK)]
    out = []
    for q in qs:
        position = (n - 1) * q / 100.0
        low = math.floor(position)
        high = min(low + 1, n - 1)
        at_low = kth_smallest(chunks, low)
        at_high = kth_smallest(chunks, high) if high != low else at_low
        out.append(at_low + (at_high - at_low) * (position - low))
    return out


def kth_smallest(chunks: Sequence[Sequence[float]], k: int) -> float:
    """The k-th smallest (0-based) of the values of sorted `chunks`: a pivot (the size-weighted median of
    the windows' middles) and a bisection per chunk discard at least a quarter of what is left per round."""
    lo = [0] * len(chunks)
    hi = [len(c) for c in chunks]
    while True:
        middles = sorted((c[(a + b) // 2], b - a) for c, a, b in zip(chunks, lo, hi, strict=True) if a < b)
        half, seen, pivot = sum(w for _, w in middles) / 2, 0, middles[-1][0]
        for value, weight in middles:
            seen += weight
            if seen >= half:
                pivot = value
                break
        below = [bisect_left(c, pivot, a, b) for c, a, b in zip(chunks, lo, hi, strict=True)]
        upto = [bisect_right(c, pivot, a, b) for c, a, b in zip(chunks, lo, hi, strict=True)]
        n_below = sum(x - a for x, a in zip(below, lo, strict=True))
        n_upto = sum(x - a for x, a in zip(upto, lo, strict=True))
        if k < n_below:
            hi = below
        elif k < n_upto:
            return pivot
        else:
            k -= n_upto
            lo = upto


def describe(values: Sequence[float], scale: float = 1.0) -> MetricStats:
    """Stats of exact samples; `scale` converts the unit (e.g. 1e-3 for us -> ms)."""
    if not values:
        return empty_stats()
    # math.fsum is exact: the mean does not depend on the order samples were merged in.
    mean = math.fsum(values) / len(values)
    p = [v * scale for v in exact_percentiles(values, PERCENTILES)]
    stddev = None
    if len(values) > 1:
        stddev = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) * scale
    return MetricStats(
        count=len(values),
        mean=mean * scale,
        min=min(values) * scale,
        max=max(values) * scale,
        p50=p[0],
        p90=p[1],
        p95=p[2],
        p99=p[3],
        p99_9=p[4],
        stddev=stddev,
    )


def empty_stats() -> MetricStats:
    return MetricStats(
        count=0, mean=None, min=None, max=None, p50=None, p90=None, p95=None, p99=None, p99_9=None
    )
