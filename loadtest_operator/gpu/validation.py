"""The client's figures of one level checked against vLLM's own (pure: queries out, checks in).

Counters (requests, tokens) are only known to Prometheus at scrapes, and a level's edges fall between
scrapes. So each counter is read four ways per series, every one exact, giving a bracket that holds the
true count C(end) - C(start):

    low  = C(last scrape <= end) - C(first scrape >= start)   (instant query at end; min_over_time after start)
    high = C(first scrape >= end) - C(last scrape <= start)   (min_over_time after end; instant query at start)

plus increase() over the window (Prometheus' extrapolated estimate, reported as `server`). A counter is
non-decreasing between resets, so low ≤ true ≤ high; a reset in or around the window (resets() > 0, or
the readings out of order) leaves only the estimate. The method and its limits: docs/gpu-metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadtest_operator.api.gpu import ServerLevelMetrics
from loadtest_operator.api.validation import CheckName, LevelValidation, ValidationCheck
from loadtest_operator.gpu.aggregate import GapTolerance, Sample
from loadtest_operator.gpu.promql import Matcher, Selector
from loadtest_operator.gpu.series import (
    VLLM_GENERATION_TOKENS_TOTAL,
    VLLM_PROMPT_TOKENS_TOTAL,
    VLLM_REQUEST_SUCCESS,
)

# How far past each edge of a level a scrape is looked for: longer than any usual scrape interval.
EDGE_SECONDS = 120.0
# vLLM's finish reasons (FinishReason: stop, length, abort); an aborted request is not a completed one.
COMPLETED_REASONS = ("stop", "length")

# counter key -> (series, extra matcher)
COUNTERS: dict[CheckName, tuple[str, Matcher | None]] = {
    CheckName.COMPLETED_REQUESTS: (
        VLLM_REQUEST_SUCCESS,
        Matcher("finished_reason", "=~", "|".join(COMPLETED_REASONS)),
    ),
    CheckName.OUTPUT_TOKENS: (VLLM_GENERATION_TOKENS_TOTAL, None),
    CheckName.PROMPT_TOKENS: (VLLM_PROMPT_TOKENS_TOTAL, None),
}
READINGS = ("estimate", "before_start", "first_in", "last_in", "after_end", "resets")


@dataclass(frozen=True)
class ClientFigures:
    """What the load generator measured in one level (None: not measured)."""

    ttft_mean_ms: float | None = None
    e2e_mean_ms: float | None = None
    successes: int | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None


def _ms(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def counter_queries(sel: Selector, start: float, end: float) -> dict[str, tuple[str, float]]:
    """name -> (PromQL, evaluation time) for every counter reading of one window, per series."""
    window = _ms(end - start)
    edge = _ms(EDGE_SECONDS)
    span = _ms(end - start + 2 * EDGE_SECONDS)
    queries: dict[str, tuple[str, float]] = {}
    for name, (metric, extra) in COUNTERS.items():
        matchers = sel.matchers + ((extra,) if extra is not None else ())
        series = Selector(matchers).of(metric)
        queries[f"{name}:estimate"] = (f"increase({series}[{window}])", end)
        queries[f"{name}:before_start"] = (series, start)  # the last sample at or before start
        queries[f"{name}:first_in"] = (f"min_over_time({series}[{edge}])", start + EDGE_SECONDS)
        queries[f"{name}:last_in"] = (series, end)
        queries[f"{name}:after_end"] = (f"min_over_time({series}[{edge}])", end + EDGE_SECONDS)
        queries[f"{name}:resets"] = (f"resets({series}[{span}])", end + EDGE_SECONDS)
    return queries


@dataclass(frozen=True)
class CounterReading:
    estimate: float  # Σ increase() over the window
    low: float | None  # exact lower bound (None: a reset)
    high: float | None  # exact upper bound (None: no scrape after the level yet, or a reset)


def _by_series(samples: Sequence[Sample]) -> dict[tuple[tuple[str, str], ...], float]:
    # *_over_time and increase() drop the metric name; a plain selector keeps it: match without it.
    return {tuple(sorted((k, v) for k, v in s.labels.items() if k != "__name__")): s.value for s in samples}


def counter_reading(results: Mapping[str, Sequence[Sample]], name: CheckName) -> CounterReading | None:
    """The bracket of one counter over one window; None when no series of it had samples there."""
    r = {reading: _by_series(results.get(f"{name}:{reading}", ())) for reading in READINGS}
    series = set(r["estimate"]) | set(r["last_in"])
    if not series:
        return None
    low: float | None = 0.0
    high: float | None = 0.0
    for key in series:
        a, b = r["before_start"].get(key), r["first_in"].get(key)
        c, d = r["last_in"].get(key), r["after_end"].get(key)
        # A counter never goes down between resets (b and c may cross: no scrape inside the window).
        pairs = ((a, b), (a, c), (b, d), (c, d))
        in_order = all(x <= y for x, y in pairs if x is not None and y is not None)
        if r["resets"].get(key, 0.0) > 0 or not in_order:
            low = high = None
            break
        if low is not None and b is not None and c is not None:
            low += max(0.0, c - b)  # no scrape inside the window: c is before b, the bound is 0
        high = None if high is None or a is None or d is None else high + d - a
    return CounterReading(math.fsum(r["estimate"].values()), low, high)


def _percent(client: float, server: float) -> float | None:
    return (client - server) / server * 100.0 if server else None


def count_check(name: CheckName, client: int, reading: CounterReading, tol: GapTolerance) -> ValidationCheck:
    """Passes when the client's count is within the tolerance of [low, high]; a bound that is unknown
    falls back to the estimate (the upper one to the larger of estimate and low)."""
    low = reading.low if reading.low is not None else reading.estimate
    high = reading.high if reading.high is not None else max(reading.estimate, low)
    passed = low * (1 - tol.relative) <= client <= high * (1 + tol.relative)
    return ValidationCheck(
        name=name,
        passed=passed,
        client=float(client),
        server=reading.estimate,
        server_min=reading.low,
        server_max=reading.high,
        difference_percent=_percent(client, reading.estimate),
    )


def latency_check(name: CheckName, client_ms: float, server_ms: float, tol: GapTolerance) -> ValidationCheck:
    """Passes when the means differ by at most the relative tolerance (of the client's mean, as the
    server/client gap has always been judged) or by at most the absolute one."""
    gap = abs(client_ms - server_ms)
    passed = gap <= tol.absolute_ms or gap <= tol.relative * client_ms
    return ValidationCheck(
        name=name,
        passed=passed,
        client=client_ms,
        server=server_ms,
        difference_percent=_percent(client_ms, server_ms),
    )


def level_validation(
    client: ClientFigures,
    server: ServerLevelMetrics | None,
    counters: Mapping[str, Sequence[Sample]],
    tol: GapTolerance,
) -> LevelValidation | None:
    """Every check the level's figures allow; None when vLLM gave nothing to check against."""
    checks: list[ValidationCheck] = []
    for name, client_ms, summary in (
        (CheckName.TTFT_MEAN, client.ttft_mean_ms, server.ttft if server else None),
        (CheckName.E2E_MEAN, client.e2e_mean_ms, server.e2e if server else None),
    ):
        if client_ms is not None and summary is not None and summary.mean is not None:
            checks.append(latency_check(name, client_ms, summary.mean, tol))
    for name, count in (
        (CheckName.COMPLETED_REQUESTS, client.successes),
        (CheckName.OUTPUT_TOKENS, client.output_tokens),
        (CheckName.PROMPT_TOKENS, client.input_tokens),
    ):
        reading = counter_reading(counters, name)
        if count is not None and reading is not None:
            checks.append(count_check(name, count, reading, tol))
    if not checks:
        return None
    return LevelValidation(
        tolerance_percent=tol.percent,
        latency_tolerance_milliseconds=round(tol.absolute_ms),
        checks=checks,
        failed=sum(not c.passed for c in checks),
    )
