"""Per-level GPU and server figures from instant-query results (pure: numbers in, models out).

Every input is a list of `Sample`s: the label set and value of one series of one query from
`promql.gpu_queries` / `promql.server_queries`, already evaluated over the level's window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from loadtest_operator.api.gpu import (
    EnergySource,
    GpuLevelMetrics,
    LatencyGap,
    ServerLatency,
    ServerLevelMetrics,
)
from loadtest_operator.gpu.discovery import gpu_identity
from loadtest_operator.gpu.promql import QUANTILES


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


Results = Mapping[str, Sequence[Sample]]


@dataclass(frozen=True)
class GapTolerance:
    """A server/client gap is flagged only when it exceeds BOTH: the relative bound alone would flag
    noise on millisecond latencies, the absolute one alone would ignore a doubling of a 3 ms TTFT.
    From spec.validation (`from_percent`); counts are judged by the relative bound alone."""

    relative: float = 0.05
    absolute_ms: float = 5.0

    @classmethod
    def from_percent(cls, percent: int, absolute_ms: int) -> GapTolerance:
        return cls(relative=percent / 100.0, absolute_ms=float(absolute_ms))

    @property
    def percent(self) -> int:
        return round(self.relative * 100)


DEFAULT_TOLERANCE = GapTolerance()


def parse_vector(result: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """Prometheus' instant-vector JSON (`[{"metric": {...}, "value": [t, "v"]}]`) without NaN/Inf:
    histogram_quantile and 0/0 give NaN for a window without observations, which means "no figure"."""
    samples = []
    for item in result:
        value = float(item["value"][1])
        if math.isfinite(value):
            samples.append(Sample(dict(item.get("metric", {})), value))
    return samples


def _values(results: Results, key: str) -> list[float]:
    return [s.value for s in results.get(key, ())]


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


def _max(values: Sequence[float]) -> float | None:
    return max(values) if values else None


def _min(values: Sequence[float]) -> float | None:
    return min(values) if values else None


def _sum(values: Sequence[float]) -> float | None:
    return math.fsum(values) if values else None


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def energy_joules(results: Results, window_seconds: float) -> tuple[float | None, EnergySource | None]:
    """Energy of all GPUs over the window.

    The counter (mJ, `increase()`) is preferred: it is what the GPU itself integrated, between scrapes
    too. Where it is missing for some GPU (older GPUs or drivers do not report it), mean power times the
    window's length stands in for every GPU, so the figure never mixes the two methods.
    """
    counter = _values(results, "energy_increase_mj")
    power = _values(results, "power_avg")
    if counter and len(counter) >= len(power):
        return math.fsum(counter) / 1000.0, EnergySource.ENERGY_COUNTER
    if power:
        return math.fsum(power) * window_seconds, EnergySource.POWER_INTEGRAL
    return None, None


def efficiency(energy_j: float | None, output_tokens: int) -> tuple[float | None, float | None]:
    """(output tokens per joule, joules per 1k output tokens); None where a figure would divide by 0."""
    if energy_j is None:
        return None, None
    per_joule = output_tokens / energy_j if energy_j > 0 else None
    per_1k = energy_j / output_tokens * 1000.0 if output_tokens > 0 else None
    return per_joule, per_1k


def gpu_level_metrics(results: Results, window_seconds: float, output_tokens: int) -> GpuLevelMetrics | None:
    """None when the window holds no GPU sample at all (e.g. shorter than the scrape interval)."""
    gpus = {gpu_identity(s.labels) for key in ("util_avg", "power_avg") for s in results.get(key, ())}
    if not gpus:
        return None
    energy, source = energy_joules(results, window_seconds)
    per_joule, per_1k = efficiency(energy, output_tokens)
    power = _values(results, "power_avg")
    return GpuLevelMetrics(
        gpu_count=len(gpus),
        utilization_percent_mean=_mean(_values(results, "util_avg")),
        utilization_percent_max=_max(_values(results, "util_max")),
        memory_used_mib_mean=_mean(_values(results, "fb_used_avg")),
        memory_used_mib_max=_max(_values(results, "fb_used_max")),
        memory_free_mib_min=_min(_values(results, "fb_free_min")),
        power_watts_mean=_mean(power),
        power_watts_max=_max(_values(results, "power_max")),
        power_watts_total_mean=_sum(power),
        energy_joules=energy,
        energy_source=source,
        sm_active_ratio_mean=_mean(_values(results, "sm_active_avg")),
        tensor_active_ratio_mean=_mean(_values(results, "tensor_active_avg")),
        dram_active_ratio_mean=_mean(_values(results, "dram_active_avg")),
        output_tokens_per_joule=per_joule,
        joules_per_1k_output_tokens=per_1k,
    )


def server_latency(results: Results, prefix: str) -> ServerLatency | None:
    """Quantiles and mean (seconds in Prometheus, ms here) of one vLLM histogram; None if it saw nothing."""
    count = _sum(_values(results, f"{prefix}_count"))
    total = _sum(_values(results, f"{prefix}_sum"))
    mean = total / count * 1000.0 if count and total is not None else None
    quantiles = {name: _scaled(_max(_values(results, f"{prefix}_{name}")), 1000.0) for name in QUANTILES}
    if mean is None and all(v is None for v in quantiles.values()):
        return None
    return ServerLatency(mean=mean, **quantiles)


def latency_gap(
    server_ms: float | None, client_ms: float | None, tolerance: GapTolerance
) -> LatencyGap | None:
    if server_ms is None or client_ms is None or client_ms <= 0:
        return None
    gap = client_ms - server_ms
    relative = abs(gap) / client_ms
    return LatencyGap(
        server_ms=server_ms,
        client_ms=client_ms,
        gap_ms=gap,
        gap_percent=relative * 100.0 * (1 if gap >= 0 else -1),
        # The same rule as the TtftMean / E2eMean checks (gpu/validation.py).
        exceeds_tolerance=abs(gap) > tolerance.absolute_ms and relative > tolerance.relative,
    )


def prefix_cache(results: Results) -> tuple[float | None, float | None, float | None]:
    """(prompt tokens looked up, tokens found cached, hit percent) over the window, all pods. A V0 engine
    has no counters: its hit-rate gauge, averaged, stands in for the percent (its own rate since start)."""
    queries = _sum(_values(results, "prefix_queries"))
    hits = _sum(_values(results, "prefix_hits"))
    if queries:
        return queries, hits, (hits or 0.0) / queries * 100.0
    return queries, hits, _scaled(_mean(_values(results, "prefix_hit_rate_v0")), 100.0)


def server_level_metrics(
    results: Results,
    client_ttft_ms: float | None,
    client_e2e_ms: float | None,
    tolerance: GapTolerance = DEFAULT_TOLERANCE,
) -> ServerLevelMetrics | None:
    """None when vLLM reported nothing in the window. Means of running/waiting are summed over pods (the
    target's total in flight); maxima are per pod (the sum of per-pod maxima never happened at once)."""
    ttft = server_latency(results, "ttft")
    e2e = server_latency(results, "e2e")
    running = _values(results, "running_avg")
    if not running and ttft is None and e2e is None:
        return None
    queried, hit, hit_percent = prefix_cache(results)
    ttft_gap = latency_gap(ttft.mean if ttft else None, client_ttft_ms, tolerance)
    e2e_gap = latency_gap(e2e.mean if e2e else None, client_e2e_ms, tolerance)
    return ServerLevelMetrics(
        requests_running_mean=_sum(running),
        requests_running_max=_max(_values(results, "running_max")),
        requests_waiting_mean=_sum(_values(results, "waiting_avg")),
        requests_waiting_max=_max(_values(results, "waiting_max")),
        kv_cache_usage_percent_mean=_scaled(_mean(_values(results, "kv_cache_avg")), 100.0),
        kv_cache_usage_percent_max=_scaled(_max(_values(results, "kv_cache_max")), 100.0),
        preemptions=_sum(_values(results, "preemptions")),
        requests=_sum(_values(results, "e2e_count")),
        ttft=ttft,
        e2e=e2e,
        ttft_gap=ttft_gap,
        e2e_gap=e2e_gap,
        client_gap_exceeded=any(g is not None and g.exceeds_tolerance for g in (ttft_gap, e2e_gap)),
        prefix_cache_queried_tokens=queried,
        prefix_cache_hit_tokens=hit,
        prefix_cache_hit_percent=hit_percent,
    )
