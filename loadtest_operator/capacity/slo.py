"""Which objective a measured level misses, in words, for SloUnreachable and the reasoning."""

from loadtest_operator.api import CapacitySlo, LatencySummary, LevelResult


def reported_percentile(percentile: int) -> int:
    """The percentile LevelResult reports that is closest at or above `percentile` (50, 90 or 99)."""
    return next((p for p in (50, 90, 99) if percentile <= p), 99)


def _value(summary: LatencySummary | None, percentile: int) -> float | None:
    if summary is None:
        return None
    value: float | None = getattr(summary, f"p{percentile}")
    return value


def slo_text(slo: CapacitySlo) -> str:
    """ "ttft <= 500 ms, tpot <= 50 ms at p95 for >= 95% of requests"."""
    parts = [
        f"{name} <= {limit} ms"
        for name, limit in (
            ("ttft", slo.ttft_milliseconds),
            ("tpot", slo.tpot_milliseconds),
            ("e2e", slo.e2e_milliseconds),
        )
        if limit is not None
    ]
    return f"{', '.join(parts)} at p{slo.percentile} for >= {slo.goodput_percent}% of requests"


def slo_misses(slo: CapacitySlo, result: LevelResult) -> list[str]:
    """Every way `result` misses `slo`, worst objective first, e.g. "ttft p90 812 ms > 500 ms"."""
    shown = reported_percentile(slo.percentile)
    misses: list[tuple[float, str]] = []
    for name, limit, summary in (
        ("ttft", slo.ttft_milliseconds, result.ttft),
        ("tpot", slo.tpot_milliseconds, result.tpot),
        ("e2e", slo.e2e_milliseconds, result.e2e),
    ):
        value = _value(summary, shown)
        if limit is not None and value is not None and value > limit:
            misses.append((value / limit, f"{name} p{shown} {value:.0f} ms > {limit} ms"))
    texts = [text for _, text in sorted(misses, key=lambda m: -m[0])]
    errors = result.requests - result.successes
    if errors:
        texts.append(f"{errors} of {result.requests} requests failed")
    goodput = result.goodput.percent if result.goodput is not None else 0.0
    if goodput < slo.goodput_percent:
        texts.append(f"goodput {goodput:.1f}% < {slo.goodput_percent}% of requests meeting every objective")
    return texts
