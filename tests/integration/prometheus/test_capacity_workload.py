"""fromPrometheus through a real Prometheus: the CapacityRecommendation's workload queries, sent by the
operator's client (`instant_values`) as instant queries at a window's end, over vLLM series recorded two
hours earlier (backfilled with promtool: an hour of data at a 15 s scrape interval, written in a second).

The recording fixes every answer: two target pods (`llm/vllm-0`, `llm/vllm-1`) with a one-minute
concurrency spike and a five-minute burst of finished requests, a counter reset, token histograms with
known quantiles, and decoys (another pod of the namespace, a pod of the same name in another namespace)
whose huge values would show at once if the selector let them in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from loadtest_operator.api import LoadMode
from loadtest_operator.capacity.prometheus import (
    buckets_from_response,
    derive_workload,
    histogram_quantile,
    token_buckets_query,
    workload_queries,
)
from loadtest_operator.gpu import series
from loadtest_operator.io.prometheus import PrometheusSource, SourceError, SourceErrorKind, instant_values
from tests.integration.prometheus.conftest import PrometheusServer

pytestmark = pytest.mark.integration

STEP = 15  # the recording's scrape interval, s
WINDOW = 3600
T1 = (int(time.time()) // 3600) * 3600 - 2 * 3600  # the window's end: two hours ago, on the hour
T0 = T1 - WINDOW
FIRST, LAST = T0 - 600, T1 + 300  # the recording reaches past both ends of the window
SPIKE = (T0 + 1800, T0 + 1860)  # one minute of extra concurrency on vllm-0
BURST = (T0 + 2400, T0 + 2700)  # five minutes of a triple request rate on vllm-0
RESET = T0 + 1200  # vllm-1 restarts: its counters start again from 0

TARGETS = [("llm", "vllm-0"), ("llm", "vllm-1")]
DECOYS = [("llm", "other-0"), ("elsewhere", "vllm-0")]
PODS = ["vllm-0", "vllm-1"]

# Cumulative requests per hour and bucket (vLLM's 1-2-5 buckets) of vllm-0; vllm-1 has half of each.
LE = ("1.0", "2.0", "5.0", "10.0", "20.0", "50.0", "100.0", "200.0", "500.0", "1000.0", "2000.0", "+Inf")
PROMPT_PER_HOUR = (0, 0, 0, 0, 10, 40, 100, 400, 800, 980, 1000, 1000)
GENERATION_PER_HOUR = (0, 0, 0, 0, 0, 100, 300, 600, 900, 1000, 1000, 1000)
DECOY_PER_HOUR = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5000, 5000)  # everything at 1000..2000 tokens

# What the recording implies.
PEAK_CONCURRENCY = (10 + 5) + (3 + 1)  # vllm-0 running + waiting in the spike, vllm-1 always
PEAK_RATE = 6.0 + 1.0  # vllm-0 in the burst (stop 4.5/s + length 1.5/s), vllm-1 1/s
PROMPT_P99 = 1000 + 1000 * (990 - 980) / 20  # rank 990 in (1000, 2000]
PROMPT_P50 = 200 + 300 * (500 - 400) / 400  # rank 500 in (200, 500]
GENERATION_P99 = 500 + 500 * (990 - 900) / 100  # rank 990 in (500, 1000]
GENERATION_P50 = 100 + 100 * (500 - 300) / 300  # rank 500 in (100, 200]


def labels(namespace: str, pod: str, **extra: str) -> str:
    pairs = {
        "namespace": namespace,
        "pod": pod,
        "job": "vllm",
        "instance": f"{pod}.{namespace}:8000",
        **extra,
    }
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def times() -> range:
    return range(FIRST, LAST + 1, STEP)


def gauge(name: str, vllm_0: tuple[float, float], vllm_1: float) -> list[str]:
    """vllm-0 at `vllm_0` (usual, in the spike), vllm-1 constant, every decoy at 50."""

    def value(namespace: str, pod: str, t: int) -> float:
        if (namespace, pod) in DECOYS:
            return 50
        if pod == "vllm-0":
            return vllm_0[1] if SPIKE[0] <= t < SPIKE[1] else vllm_0[0]
        return vllm_1

    lines = [f"# TYPE {name} gauge"]
    for namespace, pod in TARGETS + DECOYS:
        lines += [f"{name}{labels(namespace, pod)} {value(namespace, pod, t)} {t}" for t in times()]
    return lines


def success_rate(pod: str, reason: str, t: int, decoy: bool) -> float:
    if decoy:
        return 100.0
    if pod == "vllm-1":
        return 1.0 if reason == "stop" else 0.0
    burst = 3 if BURST[0] <= t < BURST[1] else 1
    return burst * (1.5 if reason == "stop" else 0.5)


def success_counter() -> list[str]:
    name = series.VLLM_REQUEST_SUCCESS
    lines = [f"# TYPE {name.removesuffix('_total')} counter"]
    for namespace, pod in TARGETS + DECOYS:
        for reason in ("stop", "length"):
            value = 1000.0
            for t in times():
                if pod == "vllm-1" and t == RESET:
                    value = 0.0
                lines.append(f"{name}{labels(namespace, pod, finished_reason=reason)} {value} {t}")
                value += success_rate(pod, reason, t, (namespace, pod) in DECOYS) * STEP
    return lines


def histogram(name: str, per_hour: Sequence[int]) -> list[str]:
    """Buckets growing linearly at `per_hour` (cumulative) for five hours before the window on: every
    window of an hour sees exactly `per_hour`, whatever Prometheus extrapolates."""
    lines = [f"# TYPE {name} histogram"]
    for namespace, pod in TARGETS + DECOYS:
        counts = DECOY_PER_HOUR if (namespace, pod) in DECOYS else per_hour
        share = 0.5 if pod == "vllm-1" and namespace == "llm" else 1.0
        for t in times():
            hours = (t - (T0 - 5 * 3600)) / 3600
            for le, count in zip(LE, counts, strict=True):
                lines.append(f"{name}_bucket{labels(namespace, pod, le=le)} {count * share * hours} {t}")
            total = counts[-1] * share * hours
            lines.append(f"{name}_count{labels(namespace, pod)} {total} {t}")
            lines.append(f"{name}_sum{labels(namespace, pod)} {total * 300} {t}")
    return lines


@pytest.fixture(scope="module")
def recorded_series() -> str:
    lines = [
        *gauge(series.VLLM_RUNNING, (4, 10), 3),
        *gauge(series.VLLM_WAITING, (0, 5), 1),
        *success_counter(),
        *histogram(series.VLLM_PROMPT_TOKENS, PROMPT_PER_HOUR),
        *histogram(series.VLLM_GENERATION_TOKENS, GENERATION_PER_HOUR),
        "# EOF",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def url(prometheus: PrometheusServer) -> str:
    return prometheus.url


AT = datetime.fromtimestamp(T1, UTC)


async def test_peak_concurrency_and_token_quantiles_at_the_window_end(url: str) -> None:
    queries = workload_queries(
        namespace="llm", pods=PODS, window_seconds=WINDOW, percentile=99, peak=LoadMode.CONCURRENCY
    )
    peak, prompt, generation = await instant_values(url, "a-token", queries.all(), AT)
    assert peak == PEAK_CONCURRENCY
    assert prompt == pytest.approx(PROMPT_P99)
    assert generation == pytest.approx(GENERATION_P99)
    derived = derive_workload(peak, prompt, generation)
    assert (derived.peak, derived.input_tokens.mean, derived.output_tokens.mean) == (19, 1500, 950)


async def test_peak_request_rate_sums_reasons_and_pods_across_a_counter_reset(url: str) -> None:
    queries = workload_queries(
        namespace="llm", pods=PODS, window_seconds=WINDOW, percentile=50, peak=LoadMode.RATE
    )
    peak, prompt, generation = await instant_values(url, None, queries.all(), T1)
    assert peak == pytest.approx(PEAK_RATE)
    assert prompt == pytest.approx(PROMPT_P50)
    assert generation == pytest.approx(GENERATION_P50)
    assert derive_workload(peak, prompt, generation).peak == 7


async def test_the_evaluation_time_is_the_one_given(url: str) -> None:
    # At the spike's end the hour before it holds the spike; an hour before the window's end the
    # spike is yet to come; now, the hour holds no sample at all.
    queries = workload_queries(
        namespace="llm", pods=PODS, window_seconds=600, percentile=99, peak=LoadMode.CONCURRENCY
    )
    (at_spike,) = await instant_values(url, None, [queries.peak], SPIKE[1])
    (before,) = await instant_values(url, None, [queries.peak], SPIKE[0] - 60)
    assert (at_spike, before) == (PEAK_CONCURRENCY, 4 + 3 + 1)
    now = await instant_values(url, None, queries.all(), datetime.now(UTC))
    assert now == [None, None, None]
    with pytest.raises(ValueError, match="no data for peak, prompt tokens, generation tokens"):
        derive_workload(*now)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_the_python_histogram_quantile_agrees_with_prometheus(url: str, q: float) -> None:
    source = PrometheusSource(url)
    for histogram_name in (series.VLLM_PROMPT_TOKENS, series.VLLM_GENERATION_TOKENS):
        selector = '{namespace="llm",pod=~"vllm-0|vllm-1"}'
        vector = source.query(token_buckets_query(histogram_name, selector, WINDOW), T1)
        buckets = buckets_from_response(
            {"status": "success", "data": {"resultType": "vector", "result": vector}}
        )
        assert len(buckets) == len(LE)
        expr = (
            f"histogram_quantile({q}, sum by (le) (increase({histogram_name}_bucket{selector}[{WINDOW}s])))"
        )
        from_prometheus = source.value(expr, T1)
        assert from_prometheus is not None
        assert math.isfinite(from_prometheus)
        assert histogram_quantile(q, buckets) == pytest.approx(from_prometheus)


async def test_errors_from_a_real_prometheus_are_classified(url: str) -> None:
    with pytest.raises(SourceError) as caught:
        await instant_values(url, None, ["sum(rate(vllm:request_success_total[1m]"], T1)  # unbalanced
    assert caught.value.kind is SourceErrorKind.QUERY_FAILED
    assert "bad_data" in caught.value.detail
    with pytest.raises(SourceError) as caught:
        await instant_values(url, None, [f'{series.VLLM_RUNNING}{{namespace="llm"}}'], T1)  # three series
    assert caught.value.kind is SourceErrorKind.MALFORMED
    with pytest.raises(SourceError) as caught:
        await instant_values(url + "/not-prometheus", None, ["up"], T1)
    assert caught.value.kind is SourceErrorKind.QUERY_FAILED  # 404
