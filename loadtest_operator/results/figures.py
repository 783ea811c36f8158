"""The figures of one stored level, by name, with their units in the name (the column names of every
export): what compare, leaderboard and export read. Pure: a level is a mapping of the store's columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Better(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"


class Noise(StrEnum):
    """How a change of the figure is tested against run-to-run noise (noise.py)."""

    DISTRIBUTION = "distribution"  # a latency: Welch's t-test on its distribution's count/mean/stddev
    PROPORTION = "proportion"  # a share of requests: two-proportion z-test on the counts
    NONE = "none"  # one figure per level and run: no spread to test against


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # also the column name: the unit is its last part
    title: str
    unit: str
    better: Better
    noise: Noise
    family: str | None = None  # the latency distribution a DISTRIBUTION figure belongs to


LATENCY_FAMILIES = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2e": "E2E"}
_STATS = (("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("p999", "p99.9"), ("mean", "mean"))

METRICS: tuple[Metric, ...] = (
    Metric("requests_per_s", "Requests/s", "req/s", Better.HIGHER, Noise.NONE),
    Metric("output_tokens_per_s", "Output tokens/s", "tok/s", Better.HIGHER, Noise.NONE),
    Metric("total_tokens_per_s", "Total tokens/s", "tok/s", Better.HIGHER, Noise.NONE),
    Metric("goodput_per_s", "Goodput/s", "req/s", Better.HIGHER, Noise.NONE),
    Metric("goodput_percent", "Goodput", "%", Better.HIGHER, Noise.PROPORTION),
    Metric("error_percent", "Errors", "%", Better.LOWER, Noise.PROPORTION),
    *(
        Metric(f"{family}_{stat}_ms", f"{title} {label}", "ms", Better.LOWER, Noise.DISTRIBUTION, family)
        for family, title in LATENCY_FAMILIES.items()
        for stat, label in _STATS
    ),
    Metric("gpu_count", "GPUs", "GPUs", Better.LOWER, Noise.NONE),
    Metric("output_tokens_per_s_per_gpu", "Output tokens/s per GPU", "tok/s/GPU", Better.HIGHER, Noise.NONE),
    Metric("joules_per_1k_output_tokens", "GPU energy per 1k output tokens", "J", Better.LOWER, Noise.NONE),
    Metric("gpu_utilization_percent", "GPU utilization (mean)", "%", Better.HIGHER, Noise.NONE),
    Metric("gpu_power_w", "GPU power, all GPUs (mean)", "W", Better.LOWER, Noise.NONE),
)
BY_KEY = {m.key: m for m in METRICS}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def level_figures(row: Mapping[str, Any], run_gpus: int | None = None) -> dict[str, float | None]:
    """Every figure of METRICS from a stored level (the level_results columns, `result` its JSON).
    `run_gpus`: the GPUs the run's target had, for a level without GPU metrics of its own."""
    requests = int(row.get("requests") or 0)
    result = row.get("result") or {}
    found = result.get("gpu") if isinstance(result, dict) else None
    gpu: dict[str, Any] = found if isinstance(found, dict) else {}
    figures: dict[str, float | None] = {
        "requests_per_s": _number(row.get("requests_per_second")),
        "output_tokens_per_s": _number(row.get("output_tokens_per_second")),
        "total_tokens_per_s": _number(row.get("total_tokens_per_second")),
        "goodput_per_s": _number(row.get("goodput_per_second")),
        "goodput_percent": _number(row.get("goodput_percent")),
        "error_percent": 100.0 * int(row.get("errors") or 0) / requests if requests else None,
    }
    for family in LATENCY_FAMILIES:
        for stat, _ in _STATS:
            figures[f"{family}_{stat}_ms"] = _number(row.get(f"{family}_{stat}_ms"))
    gpus = row.get("gpu_count") or run_gpus or None
    otps = figures["output_tokens_per_s"]
    figures["gpu_count"] = float(gpus) if gpus else None
    figures["output_tokens_per_s_per_gpu"] = otps / gpus if gpus and otps is not None else None
    figures["joules_per_1k_output_tokens"] = _number(row.get("joules_per_1k_output_tokens"))
    figures["gpu_utilization_percent"] = _number(gpu.get("utilizationPercentMean"))
    figures["gpu_power_w"] = _number(gpu.get("powerWattsTotalMean"))
    return figures


# Figures that are one stored column each: level_figure() reads these without computing the rest.
_COLUMNS = {
    "requests_per_s": "requests_per_second",
    "output_tokens_per_s": "output_tokens_per_second",
    "total_tokens_per_s": "total_tokens_per_second",
    "goodput_per_s": "goodput_per_second",
    "goodput_percent": "goodput_percent",
    "joules_per_1k_output_tokens": "joules_per_1k_output_tokens",
    **{f"{f}_{s}_ms": f"{f}_{s}_ms" for f in LATENCY_FAMILIES for s, _ in _STATS},
}
# The columns the figures that are not one column are computed from (level_figures()).
_DERIVED = {
    "error_percent": {"errors", "requests"},
    "gpu_count": {"gpu_count"},
    "output_tokens_per_s_per_gpu": {"gpu_count", "output_tokens_per_second"},
    "gpu_utilization_percent": {"result"},
    "gpu_power_w": {"result"},
}


def column_of(key: str) -> str | None:
    """The level_results column that is figure `key`, when it is one."""
    return _COLUMNS.get(key)


def columns_for(key: str) -> frozenset[str]:
    """The level_results columns level_figure(row, key) reads (a leaderboard fetches only these)."""
    if key in _COLUMNS:
        return frozenset({"level", _COLUMNS[key]})
    return frozenset({"level", *_DERIVED.get(key, {"result", *_COLUMNS.values(), "errors", "requests"})})


def level_figure(row: Mapping[str, Any], key: str, run_gpus: int | None = None) -> float | None:
    """One figure of level_figures(), computing only it where it is one column (leaderboards read
    thousands of levels)."""
    column = _COLUMNS.get(key)
    if column is not None:
        return _number(row.get(column))
    return level_figures(row, run_gpus).get(key)


def run_gpus(summary: Mapping[str, Any] | None) -> int | None:
    """GPUs of the run's resolved target pods (status.target.pods[].gpus), from the run's summary JSON."""
    target = (summary or {}).get("target")
    pods = target.get("pods") if isinstance(target, dict) else None
    if not isinstance(pods, list):
        return None
    total = sum(int(p.get("gpus") or 0) for p in pods if isinstance(p, dict))
    return total or None


def cost_per_million_output_tokens(
    price_per_gpu_hour: float, gpus: float | None, otps: float | None
) -> float | None:
    """What one million generated tokens cost at this level: the GPUs' price for the time they take."""
    if not gpus or not otps:
        return None
    return price_per_gpu_hour * gpus / (otps * 3600.0) * 1e6
