"""Percentiles and summary statistics over exact samples (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


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


def describe(values: Sequence[float], scale: float = 1.0) -> MetricStats:
    """Stats of exact samples; `scale` converts the unit (e.g. 1e-3 for us -> ms)."""
    if not values:
        return empty_stats()
    ordered = sorted(values)
    # math.fsum: the mean must not depend on the order samples were merged in.
    mean = math.fsum(ordered) / len(ordered)
    p = [percentile(ordered, q) * scale for q in PERCENTILES]
    stddev = None
    if len(ordered) > 1:
        stddev = math.sqrt(math.fsum((v - mean) ** 2 for v in ordered) / (len(ordered) - 1)) * scale
    return MetricStats(
        count=len(ordered),
        mean=mean * scale,
        min=ordered[0] * scale,
        max=ordered[-1] * scale,
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
