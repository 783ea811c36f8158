"""fromPrometheus: the PromQL, Prometheus's histogram_quantile rule on recorded buckets, and the derivation."""

import math
from typing import Any

import pytest

from loadtest_operator.api import Distribution, LoadMode
from loadtest_operator.capacity.prometheus import (
    buckets_from_response,
    derive_workload,
    histogram_quantile,
    pod_selector,
    scalar_from_response,
    workload_queries,
)

INF = math.inf
# A recorded vllm:request_prompt_tokens histogram over a window (cumulative counts per `le`), as
# `sum by (le) (increase(...[W]))` returns it: 1000 requests.
PROMPT_BUCKETS = [
    (1.0, 0.0),
    (8.0, 0.0),
    (16.0, 10.0),
    (32.0, 40.0),
    (64.0, 100.0),
    (128.0, 300.0),
    (256.0, 700.0),
    (512.0, 950.0),
    (1024.0, 1000.0),
    (INF, 1000.0),
]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 128 + (256 - 128) * (500 - 300) / 400),  # 192.0
        (0.95, 512.0),  # rank 950 lands exactly on the 512 bucket's count
        (0.96, 512 + 512 * (960 - 950) / 50),  # 614.4
        (0.99, 512 + 512 * (990 - 950) / 50),  # 921.6
        (1.0, 1024.0),
        (0.005, 8 + 8 * (5 - 0) / 10),  # 12.0: first non-empty bucket starts at the previous bound
    ],
)
def test_quantile_of_recorded_prompt_tokens(q: float, expected: float) -> None:
    assert histogram_quantile(q, PROMPT_BUCKETS) == pytest.approx(expected)


def test_first_bucket_interpolates_from_zero() -> None:
    assert histogram_quantile(0.5, [(100.0, 10.0), (INF, 10.0)]) == pytest.approx(50.0)


def test_rank_in_the_inf_bucket_returns_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(100.0, 90.0), (200.0, 95.0), (INF, 100.0)]) == 200.0


def test_non_monotonic_counts_are_made_monotonic() -> None:
    # Prometheus fixes scrape races where a higher bucket reads lower than a lower one.
    # counts 40, 30, 80 become 40, 40, 80: rank 50 lies 10/40 into the (20, 30] bucket (24.0 unfixed)
    buckets = [(10.0, 40.0), (20.0, 30.0), (30.0, 80.0), (INF, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(22.5)


def test_bucket_order_does_not_matter() -> None:
    assert histogram_quantile(0.5, list(reversed(PROMPT_BUCKETS))) == pytest.approx(192.0)


@pytest.mark.parametrize(
    ("q", "buckets", "check"),
    [
        (-0.1, PROMPT_BUCKETS, lambda v: v == -INF),
        (1.1, PROMPT_BUCKETS, lambda v: v == INF),
        (0.0, PROMPT_BUCKETS, math.isnan),  # rank 0 in an empty bucket: Prometheus's 0/0
        (0.5, [(INF, 10.0)], math.isnan),  # fewer than two buckets
        (0.5, [(1.0, 0.0), (INF, 0.0)], math.isnan),  # no observations
        (0.5, [(1.0, 3.0), (2.0, 4.0)], math.isnan),  # no +Inf bucket
    ],
)
def test_quantile_edge_cases(q: float, buckets: list[tuple[float, float]], check: Any) -> None:
    assert check(histogram_quantile(q, buckets))


def test_queries_use_vllm_series_of_the_target_pods() -> None:
    queries = workload_queries(
        namespace="bench",
        pods=["vllm-b", "vllm-a"],
        window_seconds=604_800,
        percentile=95,
        peak=LoadMode.CONCURRENCY,
    )
    selector = '{namespace="bench",pod=~"vllm-a|vllm-b"}'
    assert queries.peak == (
        f"max_over_time((sum(vllm:num_requests_running{selector}) + sum(vllm:num_requests_waiting{selector}))"
        "[604800s:15s])"
    )
    assert queries.input_tokens == (
        f"histogram_quantile(0.95, sum by (le) (increase(vllm:request_prompt_tokens_bucket{selector}[604800s])))"
    )
    assert "vllm:request_generation_tokens_bucket" in queries.output_tokens
    rate = workload_queries(
        namespace="bench", pods=["p"], window_seconds=3600, percentile=50, peak=LoadMode.RATE
    )
    assert (
        rate.peak
        == 'max_over_time(sum(rate(vllm:request_success_total{namespace="bench",pod=~"p"}[1m]))[3600s:1m])'
    )
    assert "histogram_quantile(0.5," in rate.input_tokens
    assert len(rate.all()) == 3


def test_selector_escapes_regex_and_quotes() -> None:
    assert pod_selector('a"b', ["x.y"]) == '{namespace="a\\"b",pod=~"x\\\\.y"}'
    with pytest.raises(ValueError, match="no pods"):
        pod_selector("ns", [])


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": m, "value": [1.7e9, v]} for m, v in samples]},
    }


def test_response_parsing() -> None:
    assert scalar_from_response(vector(({}, "412.5"))) == 412.5
    assert scalar_from_response(vector()) is None
    assert scalar_from_response(vector(({}, "NaN"))) is None
    buckets = buckets_from_response(
        vector(({"le": "+Inf"}, "1000"), ({"le": "256"}, "700"), ({"le": "128"}, "300"))
    )
    assert histogram_quantile(0.5, buckets) == pytest.approx(192.0)
    with pytest.raises(ValueError, match="one series"):
        scalar_from_response(vector(({"a": "1"}, "1"), ({"a": "2"}, "2")))
    with pytest.raises(ValueError, match="error"):
        scalar_from_response({"status": "error", "error": "bad query"})
    with pytest.raises(ValueError, match="vector"):
        scalar_from_response({"status": "success", "data": {"resultType": "matrix", "result": []}})
    with pytest.raises(ValueError, match="le"):
        buckets_from_response(vector(({}, "1")))


def test_derive_workload_rounds_up() -> None:
    derived = derive_workload(412.2, 191.3, 511.0)
    assert derived.peak == 413
    assert derived.input_tokens.distribution is Distribution.FIXED
    assert (derived.input_tokens.mean, derived.output_tokens.mean) == (192, 511)
    assert derive_workload(40.0, 1.0, 1.0).peak == 40  # a whole peak stays whole


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ((None, 10.0, 10.0), "peak"),
        ((5.0, math.nan, 10.0), "prompt tokens"),
        ((5.0, 1.0, 0.0), "generation tokens"),
    ],
)
def test_derive_workload_names_what_is_missing(
    values: tuple[float | None, float | None, float | None], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        derive_workload(*values)
