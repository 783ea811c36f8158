"""Collection over a fake source: discovery, per-level queries, and failures turned into reasons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from loadtest_operator.api.gpu import GpuMetricsReason, MatchedBy
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow, SourceError, SourceErrorKind, collect
from loadtest_operator.gpu.discovery import PodRef

PODS = [PodRef("vllm-0", "llm", "node-a")]
CHECKED_COUNTERS = ("request_success_total", "generation_tokens_total", "prompt_tokens_total")
GPU = {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-0", "gpu": "0", "modelName": "NVIDIA L4",
       "Hostname": "node-a", "exported_namespace": "llm", "exported_pod": "vllm-0"}  # fmt: skip
VLLM = {"__name__": "vllm:num_requests_running", "namespace": "llm", "pod": "vllm-0", "model_name": "m"}
LEVELS = [LevelWindow(100.0, 110.0, 1000, 50.0, 300.0), LevelWindow(120.0, 130.0, 2000, 60.0, 400.0)]


def vector(value: float, **labels: str) -> list[dict[str, Any]]:
    return [{"metric": labels, "value": [0, str(value)]}]


class FakeSource:
    """Answers by the metric a query reads; records every call; can fail on the n-th query."""

    def __init__(self, series: list[dict[str, str]], fail_series: SourceError | None = None) -> None:
        self._series = series
        self.fail_series = fail_series
        self.fail_at_query: tuple[int, SourceError] | None = None
        self.series_calls: list[tuple[list[str], float, float]] = []
        self.queries: list[tuple[str, float]] = []

    def series(self, matches: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        self.series_calls.append((list(matches), start, end))
        if self.fail_series:
            raise self.fail_series
        return self._series

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        self.queries.append((expr, at))
        if self.fail_at_query and len(self.queries) > self.fail_at_query[0]:
            raise self.fail_at_query[1]
        level = 1 + (at == 130.0)  # the second level draws twice the power
        if "POWER_USAGE" in expr:
            return vector(100.0 * level, UUID="GPU-0")
        if "TOTAL_ENERGY" in expr:
            return vector(1_000_000.0 * level, UUID="GPU-0")
        if "GPU_UTIL" in expr:
            return vector(50.0 * level, UUID="GPU-0")
        if "num_requests_running" in expr:
            return vector(4.0 * level, pod="vllm-0")
        return []


def test_discovers_then_queries_every_level_at_its_end() -> None:
    source = FakeSource([GPU, VLLM])
    discovery, levels = collect(source, PODS, LEVELS)
    assert discovery.available
    assert discovery.reason is GpuMetricsReason.METRICS_COLLECTED
    assert discovery.matched_by == MatchedBy.EXPORTED_POD_LABELS
    assert discovery.gpu_count == 1
    assert discovery.gpu_models == ["NVIDIA L4"]
    assert discovery.server_pods == ["vllm-0"]
    # One series lookup over the whole run, with the union of the candidate selectors and vLLM's.
    ((matches, start, end),) = source.series_calls
    assert (start, end) == (100.0, 130.0)
    assert len(matches) == 4
    figures = [(expr, at) for expr, at in source.queries if not any(m in expr for m in CHECKED_COUNTERS)]
    assert {at for _, at in figures} == {110.0, 130.0}
    assert all("[10000ms]" in expr for expr, _ in figures)
    # The counters the checks read are read around each level's edges (gpu/validation.py).
    checked = {at for expr, at in source.queries if any(m in expr for m in CHECKED_COUNTERS)}
    assert checked == {100.0, 110.0, 220.0, 230.0, 120.0, 130.0, 240.0, 250.0}
    first, second = levels
    assert first.gpu is not None
    assert second.gpu is not None
    assert first.gpu.energy_joules == 1000.0
    assert second.gpu.energy_joules == 2000.0
    assert first.gpu.joules_per_1k_output_tokens == 1000.0
    assert second.gpu.power_watts_mean == 200.0
    assert first.server is not None
    assert first.server.requests_running_mean == 4.0


def test_without_gpu_series_vllm_figures_still_come() -> None:
    discovery, levels = collect(FakeSource([VLLM]), PODS, LEVELS)
    assert not discovery.available
    assert discovery.reason is GpuMetricsReason.NO_SERIES_MATCHED
    assert discovery.queries_tried is not None
    assert len(discovery.queries_tried) == 3
    assert "vLLM series from pod(s) vllm-0" in discovery.message
    assert all(lv.gpu is None and lv.server is not None for lv in levels)


def test_nothing_matched_queries_nothing() -> None:
    source = FakeSource([])
    discovery, levels = collect(source, PODS, LEVELS)
    assert discovery.reason is GpuMetricsReason.NO_SERIES_MATCHED
    assert "no vLLM series" in discovery.message
    assert levels == [LevelMetrics(), LevelMetrics()]
    assert source.queries == []


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (SourceErrorKind.UNREACHABLE, GpuMetricsReason.PROMETHEUS_UNREACHABLE),
        (SourceErrorKind.UNAUTHORIZED, GpuMetricsReason.PROMETHEUS_UNAUTHORIZED),
        (SourceErrorKind.QUERY_FAILED, GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
        (SourceErrorKind.TOO_SLOW, GpuMetricsReason.PROMETHEUS_TOO_SLOW),
        (SourceErrorKind.MALFORMED, GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
    ],
)
def test_a_failed_lookup_is_the_reason(kind: SourceErrorKind, reason: GpuMetricsReason) -> None:
    source = FakeSource([GPU], fail_series=SourceError(kind, "details"))
    discovery, levels = collect(source, PODS, LEVELS)
    assert not discovery.available
    assert discovery.reason is reason
    assert discovery.message == "details"
    assert levels == [LevelMetrics(), LevelMetrics()]


def test_a_failure_mid_run_keeps_the_levels_already_collected() -> None:
    source = FakeSource([GPU, VLLM])
    per_level = len(source.queries)
    collect(source, PODS, LEVELS[:1])
    per_level = len(source.queries) - per_level
    source.queries.clear()
    source.fail_at_query = (per_level, SourceError(SourceErrorKind.TOO_SLOW, "slow"))
    discovery, levels = collect(source, PODS, LEVELS)
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_TOO_SLOW
    assert not discovery.available
    assert discovery.matched_by == MatchedBy.EXPORTED_POD_LABELS  # what was found is still reported
    assert levels[0].gpu is not None
    assert levels[1] == LevelMetrics()


def test_no_pods_and_no_windows() -> None:
    discovery, levels = collect(FakeSource([GPU]), [], LEVELS)
    assert discovery.reason is GpuMetricsReason.NO_TARGET_PODS
    assert len(levels) == 2
    discovery, levels = collect(FakeSource([GPU]), PODS, [LevelWindow(5.0, 5.0, 0)])
    assert discovery.reason is GpuMetricsReason.NO_SERIES_MATCHED
    assert levels == [LevelMetrics()]


def test_a_level_without_a_window_is_skipped_but_kept_in_place() -> None:
    source = FakeSource([GPU])
    _, levels = collect(source, PODS, [LevelWindow(50.0, 50.0, 0), LEVELS[0]])
    assert levels[0] == LevelMetrics()
    assert levels[1].gpu is not None
    assert {at for _, at in source.queries} == {110.0}


class GarbageSource(FakeSource):
    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        return [{"metric": {}, "value": "not a pair"}]


def test_a_malformed_answer_is_a_failed_query_not_an_exception() -> None:
    discovery, levels = collect(GarbageSource([GPU]), PODS, LEVELS)
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED  # a malformed answer
    assert "unexpected answer" in discovery.message
    assert levels == [LevelMetrics(), LevelMetrics()]


def test_the_error_says_its_kind_and_maps_to_a_condition_reason() -> None:
    err = SourceError(SourceErrorKind.MALFORMED, "http://p answered unexpectedly")
    assert str(err) == "PrometheusMalformedAnswer: http://p answered unexpectedly"
    assert err.kind is SourceErrorKind.MALFORMED
    assert err.reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED
    # An answer over the operator's size bound is a failed query there too.
    assert SourceError(SourceErrorKind.TOO_LARGE, "x").reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED
    # Every other kind is a GpuMetricsAvailable reason of the same name.
    for kind in set(SourceErrorKind) - {SourceErrorKind.MALFORMED, SourceErrorKind.TOO_LARGE}:
        assert SourceError(kind, "x").reason.value == kind.value
