"""Aggregation, energy and efficiency maths over recorded query results."""

from __future__ import annotations

import math

import pytest

from loadtest_operator.api.gpu import EnergySource
from loadtest_operator.gpu.aggregate import (
    GapTolerance,
    Sample,
    efficiency,
    energy_joules,
    gpu_level_metrics,
    latency_gap,
    parse_vector,
    server_level_metrics,
)

G0 = {"UUID": "GPU-0", "Hostname": "node-a", "gpu": "0"}
G1 = {"UUID": "GPU-1", "Hostname": "node-a", "gpu": "1"}


def per_gpu(v0: float, v1: float) -> list[Sample]:
    return [Sample(G0, v0), Sample(G1, v1)]


# Two GPUs over a 10 s window, as Prometheus returned them (recorded from the integration stack's shape).
TWO_GPUS = {
    "util_avg": per_gpu(80.0, 40.0),
    "util_max": per_gpu(95.0, 60.0),
    "fb_used_avg": per_gpu(43000.0, 41000.0),
    "fb_used_max": per_gpu(44000.0, 41500.0),
    "fb_free_min": per_gpu(37559.0, 40059.0),
    "power_avg": per_gpu(220.0, 140.0),
    "power_max": per_gpu(260.0, 150.0),
    "energy_increase_mj": per_gpu(2_200_000.0, 1_400_000.0),
    "sm_active_avg": per_gpu(0.8, 0.4),
}


def test_two_gpus_per_gpu_means_maxima_and_totals() -> None:
    m = gpu_level_metrics(TWO_GPUS, window_seconds=10.0, output_tokens=7200)
    assert m is not None
    assert m.gpu_count == 2
    assert m.utilization_percent_mean == 60.0
    assert m.utilization_percent_max == 95.0
    assert m.memory_used_mib_mean == 42000.0
    assert m.memory_used_mib_max == 44000.0
    assert m.memory_free_mib_min == 37559.0
    assert m.power_watts_mean == 180.0
    assert m.power_watts_max == 260.0
    assert m.power_watts_total_mean == 360.0
    assert m.energy_joules == 3600.0
    assert m.energy_source is EnergySource.ENERGY_COUNTER
    assert m.sm_active_ratio_mean == pytest.approx(0.6)
    assert m.tensor_active_ratio_mean is None  # no profiling series: absent, not zero
    assert m.output_tokens_per_joule == 2.0
    assert m.joules_per_1k_output_tokens == 500.0


def test_no_gpu_sample_in_the_window_is_none() -> None:
    assert gpu_level_metrics({"util_avg": [], "power_avg": []}, 1.0, 10) is None


@pytest.mark.parametrize(
    ("results", "energy", "source"),
    [
        pytest.param(
            {"energy_increase_mj": per_gpu(1000.0, 3000.0), "power_avg": per_gpu(1.0, 1.0)},
            4.0,
            EnergySource.ENERGY_COUNTER,
            id="counter-in-millijoules",
        ),
        pytest.param(
            {"power_avg": per_gpu(100.0, 50.0)},
            1500.0,
            EnergySource.POWER_INTEGRAL,
            id="no-counter-power-integral",
        ),
        pytest.param(
            # One GPU without the counter: do not add a counter to an integral, integrate both.
            {"energy_increase_mj": [Sample(G0, 999_000.0)], "power_avg": per_gpu(100.0, 50.0)},
            1500.0,
            EnergySource.POWER_INTEGRAL,
            id="partial-counter-falls-back-for-all",
        ),
        pytest.param({}, None, None, id="nothing"),
    ],
)
def test_energy(results: dict[str, list[Sample]], energy: float | None, source: EnergySource | None) -> None:
    assert energy_joules(results, window_seconds=10.0) == (energy, source)


@pytest.mark.parametrize(
    ("energy", "tokens", "per_joule", "per_1k"),
    [
        (2000.0, 1000, 0.5, 2000.0),
        (880.0, 2200, 2.5, 400.0),
        (500.0, 0, 0.0, None),  # nothing generated: no energy per token
        (0.0, 100, None, 0.0),  # a window without energy: no tokens per joule
        (None, 100, None, None),
    ],
)
def test_efficiency(energy: float | None, tokens: int, per_joule: float | None, per_1k: float | None) -> None:
    assert efficiency(energy, tokens) == (per_joule, per_1k)


@pytest.mark.parametrize(
    ("server", "client", "flagged", "gap_percent"),
    [
        (40.0, 41.0, False, 2.4390),  # close
        (40.0, 60.0, True, 33.3333),  # over 20 % and over 5 ms
        (2.0, 4.0, False, 50.0),  # 50 % but only 2 ms: noise on tiny latencies
        (400.0, 460.0, False, 13.0435),  # 60 ms but only 13 %
        (100.0, 75.0, True, -33.3333),  # server slower than the client saw: clocks or windows disagree
    ],
)
def test_gap_needs_both_relative_and_absolute_excess(
    server: float, client: float, flagged: bool, gap_percent: float
) -> None:
    gap = latency_gap(server, client, GapTolerance(relative=0.2, absolute_ms=5.0))
    assert gap is not None
    assert gap.exceeds_tolerance is flagged
    assert gap.gap_ms == client - server
    assert gap.gap_percent == pytest.approx(gap_percent, abs=1e-3)


def test_gap_needs_both_figures() -> None:
    assert latency_gap(None, 10.0, GapTolerance()) is None
    assert latency_gap(10.0, None, GapTolerance()) is None
    assert latency_gap(10.0, 0.0, GapTolerance()) is None


P0 = {"namespace": "llm", "pod": "vllm-0"}
P1 = {"namespace": "llm", "pod": "vllm-1"}
NO_LABELS: dict[str, str] = {}


def server_results(ttft_count: float = 100.0) -> dict[str, list[Sample]]:
    return {
        "running_avg": [Sample(P0, 3.5), Sample(P1, 2.5)],
        "running_max": [Sample(P0, 4.0), Sample(P1, 5.0)],
        "waiting_avg": [Sample(P0, 0.5), Sample(P1, 0.0)],
        "waiting_max": [Sample(P0, 2.0), Sample(P1, 0.0)],
        "kv_cache_avg": [Sample(P0, 0.25), Sample(P1, 0.35)],
        "kv_cache_max": [Sample(P0, 0.5), Sample(P1, 0.75)],
        "preemptions": [Sample(P0, 2.0), Sample(P1, 1.0)],
        "ttft_p50": [Sample(NO_LABELS, 0.05)],
        "ttft_p90": [Sample(NO_LABELS, 0.09)],
        "ttft_p99": [Sample(NO_LABELS, 0.2)],
        "ttft_sum": [Sample(NO_LABELS, 0.045 * ttft_count)],
        "ttft_count": [Sample(NO_LABELS, ttft_count)],
        "e2e_sum": [Sample(NO_LABELS, 30.0)],
        "e2e_count": [Sample(NO_LABELS, 100.0)],
    }


def test_server_sums_means_over_pods_and_takes_per_pod_maxima() -> None:
    m = server_level_metrics(server_results(), client_ttft_ms=47.0, client_e2e_ms=400.0)
    assert m is not None
    assert m.requests_running_mean == 6.0
    assert m.requests_running_max == 5.0
    assert m.requests_waiting_mean == 0.5
    assert m.requests_waiting_max == 2.0
    assert m.kv_cache_usage_percent_mean == pytest.approx(30.0)
    assert m.kv_cache_usage_percent_max == 75.0
    assert m.preemptions == 3.0
    assert m.requests == 100.0
    assert m.ttft is not None
    assert m.ttft.p50 == pytest.approx(50.0)
    assert m.ttft.p99 == pytest.approx(200.0)
    assert m.ttft.mean == pytest.approx(45.0)
    assert m.e2e is not None
    assert m.e2e.p50 is None  # no quantile queried back
    assert m.e2e.mean == pytest.approx(300.0)
    assert m.ttft_gap is not None
    assert not m.ttft_gap.exceeds_tolerance  # 2 ms
    assert m.e2e_gap is not None
    assert m.e2e_gap.exceeds_tolerance  # 100 ms, 25 %
    assert m.client_gap_exceeded


def test_a_window_without_requests_has_no_latency() -> None:
    results = server_results(ttft_count=0.0) | {"ttft_p50": [], "ttft_p90": [], "ttft_p99": []}
    results |= {"e2e_sum": [], "e2e_count": []}
    m = server_level_metrics(results, client_ttft_ms=None, client_e2e_ms=None)
    assert m is not None
    assert m.ttft is None
    assert m.e2e is None
    assert m.ttft_gap is None
    assert not m.client_gap_exceeded


def test_no_vllm_series_is_none() -> None:
    assert server_level_metrics({}, 10.0, 10.0) is None


def test_parse_vector_drops_nan_and_infinities() -> None:
    raw = [
        {"metric": {"pod": "a"}, "value": [1700000000.0, "1.5"]},
        {"metric": {}, "value": [1700000000.0, "NaN"]},
        {"metric": {"pod": "b"}, "value": [1700000000.0, "+Inf"]},
    ]
    samples = parse_vector(raw)
    assert samples == [Sample({"pod": "a"}, 1.5)]
    assert not any(math.isnan(s.value) for s in samples)


def test_prefix_cache_hits_over_queries_all_pods() -> None:
    results = server_results() | {
        "prefix_queries": [Sample(P0, 3000.0), Sample(P1, 1000.0)],
        "prefix_hits": [Sample(P0, 2400.0), Sample(P1, 600.0)],
    }
    m = server_level_metrics(results, 47.0, 400.0)
    assert m is not None
    assert (m.prefix_cache_queried_tokens, m.prefix_cache_hit_tokens) == (4000.0, 3000.0)
    assert m.prefix_cache_hit_percent == pytest.approx(75.0)


def test_a_v0_engine_has_only_its_hit_rate_gauge() -> None:
    results = server_results() | {"prefix_hit_rate_v0": [Sample(P0, 0.5), Sample(P1, 0.3)]}
    m = server_level_metrics(results, 47.0, 400.0)
    assert m is not None
    assert (m.prefix_cache_queried_tokens, m.prefix_cache_hit_tokens) == (None, None)
    assert m.prefix_cache_hit_percent == pytest.approx(40.0)


def test_no_prefix_series_no_prefix_figures() -> None:
    m = server_level_metrics(server_results(), 47.0, 400.0)
    assert m is not None
    assert (m.prefix_cache_queried_tokens, m.prefix_cache_hit_tokens, m.prefix_cache_hit_percent) == (
        None,
        None,
        None,
    )
