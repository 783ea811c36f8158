"""The Prometheus client's error classification and settings, without a network (requests are stubbed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import pytest
from prometheus_api_client.exceptions import PrometheusApiClientException

from loadtest_operator.api.gpu import GpuMetricsReason
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow, SourceError
from loadtest_operator.gpu.discovery import PodRef
from loadtest_operator.io.prometheus import PrometheusSource, collect_level_metrics

URL = "http://127.0.0.1:9"


def raising(err: Exception) -> Callable[[], NoReturn]:
    def call() -> NoReturn:
        raise err

    return call


@pytest.mark.parametrize(
    ("err", "reason"),
    [
        (
            PrometheusApiClientException("HTTP Status Code 401 (b'Unauthorized')"),
            GpuMetricsReason.PROMETHEUS_UNAUTHORIZED,
        ),
        (
            PrometheusApiClientException("HTTP Status Code 403 (b'Forbidden')"),
            GpuMetricsReason.PROMETHEUS_UNAUTHORIZED,
        ),
        (
            PrometheusApiClientException("HTTP Status Code 400 (b'bad_data')"),
            GpuMetricsReason.PROMETHEUS_QUERY_FAILED,
        ),
        (
            PrometheusApiClientException("HTTP Status Code 503 (b'')"),
            GpuMetricsReason.PROMETHEUS_QUERY_FAILED,
        ),
        (ConnectionRefusedError("refused"), GpuMetricsReason.PROMETHEUS_UNREACHABLE),
        (TimeoutError("read timed out"), GpuMetricsReason.PROMETHEUS_UNREACHABLE),
        (ValueError("Expecting value: line 1 column 1"), GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
        (KeyError("data"), GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
    ],
)
def test_failures_are_classified(err: Exception, reason: GpuMetricsReason) -> None:
    source = PrometheusSource(URL)
    with pytest.raises(SourceError) as caught:
        source._call(raising(err))
    assert caught.value.reason is reason
    assert URL in caught.value.detail


def test_requests_exceptions_count_as_unreachable() -> None:
    # requests is what PrometheusConnect uses; its exceptions are OSErrors.
    import requests  # type: ignore[import-untyped,unused-ignore]

    source = PrometheusSource(URL)
    with pytest.raises(SourceError) as caught:
        source._call(raising(requests.exceptions.ConnectionError("no route")))
    assert caught.value.reason is GpuMetricsReason.PROMETHEUS_UNREACHABLE


def test_past_the_deadline_nothing_is_sent() -> None:
    now = [0.0]
    source = PrometheusSource(URL, deadline_seconds=10.0, clock=lambda: now[0])
    calls: list[int] = []
    assert source._call(lambda: calls.append(1)) is None
    now[0] = 10.5
    with pytest.raises(SourceError) as caught:
        source._call(lambda: calls.append(2))
    assert caught.value.reason is GpuMetricsReason.PROMETHEUS_TOO_SLOW
    assert calls == [1]


def test_bearer_token_and_timeout_reach_the_client() -> None:
    client: Any = PrometheusSource(URL + "/", token="s3cret", timeout_seconds=2.5)._client
    assert client.headers == {"Authorization": "Bearer s3cret"}
    assert client._timeout == 2.5
    assert client.url == URL
    assert PrometheusSource(URL)._client.headers is None


def test_series_and_query_shape_the_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    source = PrometheusSource(URL)
    seen: dict[str, Any] = {}

    def get_series(start: Any, end: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
        seen["series"] = (start.timestamp(), end.timestamp(), params)
        return [{"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": 0}]

    def custom_query(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        seen["query"] = (query, params)
        return []

    monkeypatch.setattr(source._client, "get_series", get_series)
    monkeypatch.setattr(source._client, "custom_query", custom_query)
    assert source.series(['a{x="1"}', "b"], 100.0, 200.5) == [
        {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0"}
    ]
    assert seen["series"] == (100.0, 200.5, {"match[]": ['a{x="1"}', "b"]})
    assert source.query("up", 1700000000.1234) == []
    assert seen["query"] == ("up", {"time": "1700000000.123"})


async def test_no_url_is_a_reason_not_a_request() -> None:
    discovery, levels = await collect_level_metrics(
        None, None, [PodRef("p", "ns")], [LevelWindow(1.0, 2.0, 0)]
    )
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_NOT_CONFIGURED
    assert not discovery.available
    assert levels == [LevelMetrics()]


def test_a_malformed_series_answer_is_a_failed_query(monkeypatch: pytest.MonkeyPatch) -> None:
    source = PrometheusSource(URL)
    monkeypatch.setattr(source._client, "get_series", lambda **_: ["not", "label", "sets"])
    with pytest.raises(SourceError) as caught:
        source.series(["x"], 1.0, 2.0)
    assert caught.value.reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED
