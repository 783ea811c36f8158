"""One run's GPU and vLLM figures: discovery, then the queries of every level window, then aggregation.

Pure orchestration over a `MetricsSource` (the Prometheus client in `io/prometheus.py`, or a fake in tests).
It never raises for a source failure: the failure becomes the reason of the `GpuMetricsAvailable`
condition, and whatever was collected before it is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from loadtest_operator.api.gpu import (
    GpuDiscovery,
    GpuLevelMetrics,
    GpuMetricsReason,
    MatchedBy,
    ServerLevelMetrics,
)
from loadtest_operator.api.validation import LevelValidation
from loadtest_operator.gpu import promql
from loadtest_operator.gpu.aggregate import (
    DEFAULT_TOLERANCE,
    GapTolerance,
    Sample,
    gpu_level_metrics,
    parse_vector,
    server_level_metrics,
)
from loadtest_operator.gpu.discovery import (
    DcgmMatch,
    PodRef,
    VllmMatch,
    dcgm_series_matches,
    discover_dcgm,
    discover_vllm,
    vllm_selector,
)
from loadtest_operator.gpu.series import GPU_UTIL, VLLM_RUNNING
from loadtest_operator.gpu.validation import ClientFigures, counter_queries, level_validation


class LevelWindow(NamedTuple):
    """One level as the load generator recorded it (unix seconds) with the client's figures."""

    start: float
    end: float
    output_tokens: int
    client_ttft_ms: float | None = None  # the client's mean, compared with vLLM's exact mean
    client_e2e_ms: float | None = None
    client_successes: int | None = None  # compared with vllm:request_success_total
    client_input_tokens: int | None = None  # compared with vllm:prompt_tokens_total


@dataclass(frozen=True)
class LevelMetrics:
    """GPU and server figures of one level; either is None when Prometheus had nothing for it."""

    gpu: GpuLevelMetrics | None = None
    server: ServerLevelMetrics | None = None
    validation: LevelValidation | None = None


class SourceErrorKind(StrEnum):
    """What went wrong with a Prometheus call. The first four are also `GpuMetricsAvailable` reasons."""

    UNREACHABLE = "PrometheusUnreachable"  # connection refused, DNS failure, no answer within the timeout
    UNAUTHORIZED = "PrometheusUnauthorized"  # HTTP 401/403: the bearer token
    QUERY_FAILED = "PrometheusQueryFailed"  # any other HTTP error (a bad query, 5xx)
    TOO_SLOW = "PrometheusTooSlow"  # the overall deadline passed
    MALFORMED = "PrometheusMalformedAnswer"  # a body that is not Prometheus' JSON, or not the shape asked for
    TOO_LARGE = "PrometheusAnswerTooLarge"  # a body over the operator's bound (LLMLOAD_PROMETHEUS_MAX_BYTES)


class SourceError(Exception):
    """A failed Prometheus call, classified: `kind` for any caller, `reason` for the GPU condition.

    The one error type of the Prometheus client (`io/prometheus.py`), for GPU metrics and the
    CapacityRecommendation workload alike; `str(err)` is `"<kind>: <detail>"`."""

    def __init__(self, kind: SourceErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    @property
    def reason(self) -> GpuMetricsReason:
        """The `GpuMetricsAvailable` reason (a malformed or oversized answer counts as a failed query)."""
        if self.kind in (SourceErrorKind.MALFORMED, SourceErrorKind.TOO_LARGE):
            return GpuMetricsReason.PROMETHEUS_QUERY_FAILED
        return GpuMetricsReason(self.kind.value)


class MetricsSource(Protocol):
    def series(self, matches: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        """Label sets of the series matching any of `matches` between start and end (unix seconds)."""
        ...

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """The instant vector of `expr` evaluated at `at` (Prometheus' JSON `result` list)."""
        ...


def unavailable(reason: GpuMetricsReason, message: str) -> GpuDiscovery:
    return GpuDiscovery(available=False, reason=reason, message=message)


def collect(
    source: MetricsSource,
    pods: Sequence[PodRef],
    levels: Sequence[LevelWindow],
    tolerance: GapTolerance = DEFAULT_TOLERANCE,
) -> tuple[GpuDiscovery, list[LevelMetrics]]:
    """Discovery plus one `LevelMetrics` per level, in the levels' order (always as many as levels)."""
    empty = [LevelMetrics() for _ in levels]
    if not pods:
        return unavailable(GpuMetricsReason.NO_TARGET_PODS, "the target has no pods to look up"), empty
    windows = [lv for lv in levels if lv.end > lv.start]
    if not windows:
        return unavailable(GpuMetricsReason.NO_SERIES_MATCHED, "no level has a time window"), empty
    run_start, run_end = min(w.start for w in windows), max(w.end for w in windows)
    matches = [*dcgm_series_matches(pods), vllm_selector(pods).of(VLLM_RUNNING)]
    try:
        series = source.series(matches, run_start, run_end)
    except SourceError as err:
        return unavailable(err.reason, err.detail), empty
    dcgm = discover_dcgm(pods, series)
    vllm = discover_vllm(pods, series)
    discovery = _discovery(dcgm, vllm)
    collected: list[LevelMetrics] = []
    for level in levels:
        try:
            collected.append(_level(source, dcgm, vllm, level, tolerance))
        except SourceError as err:
            failed = discovery.model_copy(
                update={
                    "available": False,
                    "reason": err.reason,
                    "message": f"{err.detail} ({discovery.message})",
                }
            )
            return failed, collected + empty[len(collected) :]
    return discovery, collected


def _level(
    source: MetricsSource,
    dcgm: DcgmMatch,
    vllm: VllmMatch | None,
    level: LevelWindow,
    tolerance: GapTolerance,
) -> LevelMetrics:
    if level.end <= level.start or (dcgm.selector is None and vllm is None):
        return LevelMetrics()
    window = promql.range_duration(level.start, level.end)
    gpu = server = validation = None
    if dcgm.selector is not None:
        results = _run(source, promql.gpu_queries(dcgm.selector, window), level.end)
        gpu = gpu_level_metrics(results, level.end - level.start, level.output_tokens)
    if vllm is not None:
        results = _run(source, promql.server_queries(vllm.selector, window), level.end)
        server = server_level_metrics(results, level.client_ttft_ms, level.client_e2e_ms, tolerance)
        counters = _run_at(source, counter_queries(vllm.selector, level.start, level.end))
        client = ClientFigures(
            ttft_mean_ms=level.client_ttft_ms,
            e2e_mean_ms=level.client_e2e_ms,
            successes=level.client_successes,
            output_tokens=level.output_tokens if level.client_successes is not None else None,
            input_tokens=level.client_input_tokens,
        )
        validation = level_validation(client, server, counters, tolerance)
    return LevelMetrics(gpu=gpu, server=server, validation=validation)


def _run(source: MetricsSource, queries: Mapping[str, str], at: float) -> dict[str, list[Sample]]:
    return _run_at(source, {name: (expr, at) for name, expr in queries.items()})


def _run_at(source: MetricsSource, queries: Mapping[str, tuple[str, float]]) -> dict[str, list[Sample]]:
    """Each query at its own evaluation time."""
    results = {}
    for name, (expr, at) in queries.items():
        answer = source.query(expr, at)
        try:
            results[name] = parse_vector(answer)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise SourceError(SourceErrorKind.MALFORMED, f"unexpected answer to {expr}: {err!r}") from err
    return results


def _discovery(dcgm: DcgmMatch, vllm: VllmMatch | None) -> GpuDiscovery:
    if vllm is None:
        server_note = "no vLLM series (vllm:num_requests_running) for the target pods"
    else:
        server_note = f"vLLM series from pod(s) {', '.join(vllm.pods)}"
    server_fields: dict[str, Any] = {}
    if vllm is not None:
        server_fields = {"server_pods": list(vllm.pods), "server_model_names": list(vllm.model_names) or None}
    if dcgm.selector is None:
        return GpuDiscovery(
            available=False,
            reason=GpuMetricsReason.NO_SERIES_MATCHED,
            message=f"no {GPU_UTIL} series matched {' or '.join(dcgm.tried)}; {server_note}",
            matched_by=MatchedBy.NONE,
            queries_tried=list(dcgm.tried),
            **server_fields,
        )
    query = dcgm.selector.render()
    models = ", ".join(dcgm.gpu_models) or "unknown model"
    return GpuDiscovery(
        available=True,
        reason=GpuMetricsReason.METRICS_COLLECTED,
        message=f"{len(dcgm.gpu_uuids)} GPU(s) ({models}) matched by {dcgm.matched_by.value} {query}; {server_note}",
        matched_by=dcgm.matched_by,
        query=query,
        gpu_models=list(dcgm.gpu_models) or None,
        driver_versions=list(dcgm.driver_versions) or None,
        gpu_count=len(dcgm.gpu_uuids),
        **server_fields,
    )
