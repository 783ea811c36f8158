"""A log-bucketed histogram whose merge is exact (counts add).

Bucket i holds values in (gamma**(i-1), gamma**i] with
gamma = (1 + a) / (1 - a); reporting 2 * gamma**i / (gamma + 1) for a value in
that bucket is off by at most a relative error of `a` (the DDSketch bound).
Values at or below ZERO_THRESHOLD_S (1 microsecond) are counted as zero.
"""

from __future__ import annotations

import math

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

    @property
    def mean(self) -> float:
        return self.sum_ns / 1e9 / self.count if self.count else math.nan

    def merge(self, other: LogHistogram) -> None:
        if other.relative_error != self.relative_error:
            raise ValueError("cannot merge histograms with different relative errors")
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        self.count += other.count
        self.sum_ns += other.sum_ns
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

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


# Below every real bucket index (values > 1 us give indices above -1400 at a=0.005).
_ZERO = -(10**6)
