"""Which objective a measured level misses, in words, for SloUnreachable and the reasoning."""

from dataclasses import dataclass

from loadtest_operator.api import CapacitySlo, LatencySummary, LevelResult, Slo

# The percentiles a LatencySummary reports: (its field, how it is written).
_REPORTED = (
    (50, "p50", "p50"),
    (90, "p90", "p90"),
    (95, "p95", "p95"),
    (99, "p99", "p99"),
    (100, "p999", "p99.9"),
)


def reported_percentile(percentile: int) -> tuple[str, str]:
    """The reported percentile at or above `percentile` (p99.9 for 100): never a laxer one than the SLO's."""
    return next((field, label) for bound, field, label in _REPORTED if percentile <= bound)


def _value(summary: LatencySummary | None, field: str) -> float | None:
    if summary is None:
        return None
    value: float | None = getattr(summary, field)
    return value


def objectives(slo: Slo) -> list[str]:
    """["ttft <= 500 ms", "tpot <= 50 ms"]: the latency objectives the SLO sets."""
    return [
        f"{name} <= {limit} ms"
        for name, limit in (
            ("ttft", slo.ttft_milliseconds),
            ("tpot", slo.tpot_milliseconds),
            ("e2e", slo.e2e_milliseconds),
        )
        if limit is not None
    ]


def slo_text(slo: CapacitySlo) -> str:
    """ "ttft <= 500 ms, tpot <= 50 ms at p95 for >= 95% of requests"."""
    return f"{', '.join(objectives(slo))} at p{slo.percentile} for >= {slo.goodput_percent}% of requests"


@dataclass(frozen=True)
class LatencyMiss:
    metric: str  # "ttft", "tpot" or "e2e"
    percentile: str  # "p95", as the status reports it
    value: float  # ms
    limit: int  # ms


def latency_misses(slo: Slo, result: LevelResult) -> list[LatencyMiss]:
    """The latency objectives `result` misses, at the SLO's percentile (or the next stricter reported one)."""
    field, label = reported_percentile(slo.percentile)
    misses = []
    for name, limit, summary in (
        ("ttft", slo.ttft_milliseconds, result.ttft),
        ("tpot", slo.tpot_milliseconds, result.tpot),
        ("e2e", slo.e2e_milliseconds, result.e2e),
    ):
        value = _value(summary, field)
        if limit is not None and value is not None and value > limit:
            misses.append(LatencyMiss(name, label, value, limit))
    return misses


def slo_misses(slo: CapacitySlo, result: LevelResult) -> list[str]:
    """Every way `result` misses `slo`, worst objective first, e.g. "ttft p90 812 ms > 500 ms"."""
    misses = [
        (m.value / m.limit, f"{m.metric} {m.percentile} {m.value:.0f} ms > {m.limit} ms")
        for m in latency_misses(slo, result)
    ]
    texts = [text for _, text in sorted(misses, key=lambda m: -m[0])]
    errors = result.requests - result.successes
    if errors:
        texts.append(f"{errors} of {result.requests} requests failed")
    goodput = result.goodput.percent if result.goodput is not None else 0.0
    if goodput < slo.goodput_percent:
        texts.append(f"goodput {goodput:.1f}% < {slo.goodput_percent}% of requests meeting every objective")
    return texts
