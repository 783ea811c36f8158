"""A log-bucketed histogram whose merge is exact (counts add).

Bucket i holds values in (gamma**(i-1), gamma**i] with
gamma = (1 + a) / (1 - a); reporting 2 * gamma**i / (gamma + 1) for a value in
that bucket is off by at most a relative error of `a` (the DDSketch bound).
Values at or below ZERO_THRESHOLD_S (1 microsecond) are counted as zero.

`percentile` interpolates between the representatives of two ranks as the exact
percentile does between the two samples (loadgen.stats.percentile), so it is within
the relative error `a` of the exact figure (or 1 microsecond, at the zero bucket).
`coarsened` squares gamma (halves the buckets): what a result too large for its
ConfigMap gives up; histograms of different resolutions merge at the coarser one.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

RELATIVE_ERROR = 0.005
ZERO_THRESHOLD_S = 1e-6


class HistogramData(BaseModel):
    """Serialised form; `sum_ns` is an integer so merged sums are exact."""

    relative_error: float = RELATIVE_ERROR
    buckets: dict[int, int] = Field(default_factory=dict)
    zero_count: int = 0
    count: int = 0
    sum_ns: int = 0
    min: float | None = None
    max: float | None = None


class LogHistogram:
    """Mutable accumulator for the hot path (plain attributes, no validation)."""

    __slots__ = ("_inv_log_gamma", "buckets", "count", "gamma", "max", "min", "relative_error", "sum_ns")

    def __init__(self, relative_error: float = RELATIVE_ERROR) -> None:
        self.relative_error = relative_error
        self.gamma = (1 + relative_error) / (1 - relative_error)
        self._inv_log_gamma = 1.0 / math.log(self.gamma)
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.sum_ns = 0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float, times: int = 1) -> None:
        """Record `value` (seconds) `times` times."""
        self.count += times
        self.sum_ns += round(value * 1e9) * times
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        # Values too small for a log bucket share one sentinel key.
        key = math.ceil(math.log(value) * self._inv_log_gamma) if value > ZERO_THRESHOLD_S else _ZERO
        buckets = self.buckets
        buckets[key] = buckets.get(key, 0) + times

    def add_counts_us(self, values_us: Iterable[float]) -> None:
        """Record many values given in microseconds (ints or floats): each distinct value once."""
        log, ceil, inv, buckets = math.log, math.ceil, self._inv_log_gamma, self.buckets
        low, high, total, n = self.min, self.max, 0, 0
        for value_us, times in Counter(values_us).items():
            value = value_us / 1e6
            n += times
            total += round(value * 1e9) * times  # as add() does, so both give the same histogram
            low, high = min(low, value), max(high, value)
            key = ceil(log(value) * inv) if value > ZERO_THRESHOLD_S else _ZERO
            buckets[key] = buckets.get(key, 0) + times
        self.count += n
        self.sum_ns += total
        self.min, self.max = low, high

    def bucket_value(self, key: int) -> float:
        if key == _ZERO:
            return 0.0
        return 2.0 * self.gamma**key / (self.gamma + 1.0)

    def quantile(self, q: float) -> float:
        """Value of rank round(q/100 * (count-1)) (0-based), within the relative error."""
        if self.count == 0:
            return math.nan
        rank = round(q / 100.0 * (self.count - 1))
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                # Clamp to the exact extremes so p0/p100 are exact.
                return min(max(self.bucket_value(key), self.min), self.max)
        return self.max

    def percentile(self, q: float) -> float:
        """The exact percentile's rule (linear interpolation between the samples of ranks floor(p) and
        floor(p) + 1, p = (count - 1) q / 100) over the buckets' representatives, each clamped to the
        exact min and max: within the relative error of the exact percentile (1 us at the zero bucket)."""
        return self.percentiles((q,))[0]

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        """`percentile` of each of `qs`, in one walk over the buckets."""
        n = self.count
        if n == 0:
            return [math.nan for _ in qs]
        wanted: list[tuple[int, int, float]] = []  # (low rank, high rank, fraction) per q
        for q in qs:
            position = (n - 1) * q / 100.0
            low = math.floor(position)
            wanted.append((low, min(low + 1, n - 1), position - low))
        keys = sorted(self.buckets)
        # cumulative[j]: samples in buckets keys[0..j]; the sample of rank r is in the first bucket whose
        # cumulative count exceeds r (bisect, at C speed: the status of 64 levels is built on the loop).
        cumulative = list(itertools.accumulate(map(self.buckets.__getitem__, keys)))
        values: dict[int, float] = {}
        for rank in {r for low, high, _ in wanted for r in (low, high)}:
            j = bisect.bisect_right(cumulative, rank)
            values[rank] = (
                min(max(self.bucket_value(keys[j]), self.min), self.max) if j < len(keys) else self.max
            )
        return [values[low] + (values[high] - values[low]) * fraction for low, high, fraction in wanted]

    def stddev(self) -> float | None:
        """Sample standard deviation over the buckets' representatives (each clamped to the exact min and
        max) about the exact mean: each deviation is off by at most the relative error of its value."""
        if self.count < 2:
            return None
        mean = self.mean
        squares = math.fsum(
            times * (min(max(self.bucket_value(key), self.min), self.max) - mean) ** 2
            for key, times in self.buckets.items()
        )
        return math.sqrt(squares / (self.count - 1))

    def coarsened(self) -> LogHistogram:
        """The same samples at gamma squared: bucket i of gamma**2 is buckets 2i - 1 and 2i of gamma, so
        no sample changes side; the relative error roughly doubles (0.5 % -> 1.0 % -> 2.0 %)."""
        gamma2 = self.gamma * self.gamma
        coarse = LogHistogram((gamma2 - 1) / (gamma2 + 1))
        buckets = coarse.buckets
        for key, n in self.buckets.items():
            new = key if key == _ZERO else -((-key) // 2)
            buckets[new] = buckets.get(new, 0) + n
        coarse.count, coarse.sum_ns, coarse.min, coarse.max = self.count, self.sum_ns, self.min, self.max
        return coarse

    def at_resolution(self, relative_error: float) -> LogHistogram:
        """This histogram coarsened until its relative error is `relative_error` (one of the chain
        0.5 %, ~1 %, ~2 %, ...); ValueError when that is finer or off the chain."""
        hist = self
        while hist.relative_error < relative_error and not _same(hist.relative_error, relative_error):
            hist = hist.coarsened()
        if not _same(hist.relative_error, relative_error):
            raise ValueError(
                f"cannot merge histograms of relative errors {self.relative_error} and {relative_error}"
            )
        return hist

    @property
    def mean(self) -> float:
        return self.sum_ns / 1e9 / self.count if self.count else math.nan

    def merge(self, other: LogHistogram) -> None:
        """Add `other`'s samples. Of different resolutions, the finer side is coarsened first (call
        merged() for a histogram that may need to coarsen itself)."""
        if not _same(other.relative_error, self.relative_error):
            if other.relative_error < self.relative_error:
                other = other.at_resolution(self.relative_error)
            else:
                raise ValueError(
                    "cannot merge a coarser histogram into a finer one in place; use merged_with"
                )
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        self.count += other.count
        self.sum_ns += other.sum_ns
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def merged_with(self, other: LogHistogram) -> LogHistogram:
        """A histogram of both sides' samples at the coarser side's resolution (may be self, updated)."""
        if other.relative_error > self.relative_error and not _same(
            other.relative_error, self.relative_error
        ):
            coarse = self.at_resolution(other.relative_error)
            coarse.merge(other)
            return coarse
        self.merge(other)
        return self

    def to_data(self) -> HistogramData:
        zero = self.buckets.get(_ZERO, 0)
        return HistogramData(
            relative_error=self.relative_error,
            buckets={k: v for k, v in sorted(self.buckets.items()) if k != _ZERO},
            zero_count=zero,
            count=self.count,
            sum_ns=self.sum_ns,
            min=self.min if self.count else None,
            max=self.max if self.count else None,
        )

    @classmethod
    def from_data(cls, data: HistogramData) -> LogHistogram:
        hist = cls(data.relative_error)
        hist.buckets = dict(data.buckets)
        if data.zero_count:
            hist.buckets[_ZERO] = data.zero_count
        hist.count = data.count
        hist.sum_ns = data.sum_ns
        hist.min = data.min if data.min is not None else math.inf
        hist.max = data.max if data.max is not None else -math.inf
        return hist


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(a, b)


# Below every real bucket index (values > 1 us give indices above -1400 at a=0.005).
_ZERO = -(10**6)
