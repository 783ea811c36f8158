"""Is a change between two runs larger than the noise? Pure statistics on what the store holds.

- A latency (TTFT, TPOT, ITL, E2E, any percentile of them): Welch's unequal-variances t-test on the
  level's distribution, from its sample count, mean and standard deviation (level_results.*_count,
  *_mean_ms, *_stddev_ms). It tests the mean; a percentile's row carries its distribution's verdict and
  says so in `basis`.
- A share of requests (goodput %, error %): the two-proportion z-test on the counts.

The test takes a `Distribution`; today the only one is `Moments`. When the per-level mergeable
histograms reach the store, a histogram-backed Distribution can give the same moments from its bins, or
a rank test on the bins (Mann-Whitney U) can replace Welch's for the percentiles, without changing the
callers (compare.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

ALPHA = 0.05
WELCH = "welch_t"
TWO_PROPORTIONS = "two_proportion_z"


@dataclass(frozen=True, slots=True)
class Moments:
    count: int
    mean: float
    stddev: float


class Distribution(Protocol):
    def moments(self) -> Moments | None: ...


@dataclass(frozen=True, slots=True)
class StoredMoments:
    """A latency distribution as level_results holds it (any of the three may be missing)."""

    count: int | None
    mean: float | None
    stddev: float | None

    def moments(self) -> Moments | None:
        if self.count is None or self.mean is None or self.stddev is None or self.count < 2:
            return None
        return Moments(self.count, self.mean, self.stddev)


@dataclass(frozen=True, slots=True)
class Proportion:
    hits: int
    trials: int


@dataclass(frozen=True, slots=True)
class Verdict:
    test: str | None
    p_value: float | None
    significant: bool | None  # None: not tested (`reason` says why)
    reason: str


def welch(a: Distribution, b: Distribution, alpha: float = ALPHA) -> Verdict:
    ma, mb = a.moments(), b.moments()
    if ma is None or mb is None:
        return Verdict(
            WELCH,
            None,
            None,
            "no sample count and spread stored (runs before revision 0006, or a histogram-only figure)",
        )
    va, vb = ma.stddev**2 / ma.count, mb.stddev**2 / mb.count
    diff = mb.mean - ma.mean
    if va + vb == 0:
        p = 1.0 if diff == 0 else 0.0
        return Verdict(WELCH, p, p < alpha, "no spread in either run")
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (ma.count - 1) if va else 0.0) + (vb**2 / (mb.count - 1) if vb else 0.0))
    p = student_t_two_sided(t, df)
    return Verdict(WELCH, p, p < alpha, f"t = {t:.3f}, df = {df:.1f}")


def two_proportions(a: Proportion, b: Proportion, alpha: float = ALPHA) -> Verdict:
    if a.trials == 0 or b.trials == 0:
        return Verdict(TWO_PROPORTIONS, None, None, "a run has no requests at this level")
    pooled = (a.hits + b.hits) / (a.trials + b.trials)
    spread = pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials)
    diff = b.hits / b.trials - a.hits / a.trials
    if spread == 0:
        return Verdict(TWO_PROPORTIONS, 1.0, False, "the same share in both runs (all or none)")
    z = diff / math.sqrt(spread)
    p = math.erfc(abs(z) / math.sqrt(2))
    return Verdict(TWO_PROPORTIONS, p, p < alpha, f"z = {z:.3f}")


def student_t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2)."""
    if math.isinf(t):
        return 0.0
    return regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) by Lentz's continued fraction (converges fast for x < (a+1)/(a+b+2); the symmetry
    I_x(a,b) = 1 - I_{1-x}(b,a) covers the rest)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h
