"""The Prometheus I/O of GPU metrics: prometheus-api-client's `PrometheusConnect` with explicit timeouts.

`PrometheusConnect` takes a per-request `timeout`, extra `headers` (the bearer token) and a urllib3
`Retry`, which is all this needs, so it is used as the design names it. Its default retry policy (several
retries with backoff, also on read timeouts) would stretch an outage into minutes of a reconcile, so a
single quick connect retry replaces it, and a deadline bounds the whole collection.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from loadtest_operator.api.gpu import GpuDiscovery, GpuMetricsReason
from loadtest_operator.gpu.aggregate import DEFAULT_TOLERANCE, GapTolerance
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow, SourceError, collect, unavailable
from loadtest_operator.gpu.discovery import PodRef

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_DEADLINE_SECONDS = 60.0
_STATUS = re.compile(r"HTTP Status Code (\d+)")


class PrometheusSource:
    """A `MetricsSource` over Prometheus' HTTP API; every failure is raised as a classified SourceError."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._client = PrometheusConnect(
            url=url.rstrip("/"),
            headers=headers,
            timeout=timeout_seconds,
            retry=Retry(total=1, connect=1, read=0, status=0, other=0, backoff_factor=0.2),
        )
        self._clock = clock
        self._deadline = clock() + deadline_seconds
        self._url = url

    def series(self, matches: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        def request() -> list[dict[str, str]]:
            data = self._client.get_series(
                start=datetime.fromtimestamp(start, UTC),
                end=datetime.fromtimestamp(end, UTC),
                params={"match[]": list(matches)},
            )
            # Inside _call: a malformed answer is classified like any other failure.
            return [{str(k): str(v) for k, v in item.items()} for item in data]

        result: list[dict[str, str]] = self._call(request)
        return result

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self._call(lambda: self._client.custom_query(expr, params={"time": f"{at:.3f}"}))
        return list(data)

    def _call(self, request: Callable[[], Any]) -> Any:
        if self._clock() > self._deadline:
            raise SourceError(GpuMetricsReason.PROMETHEUS_TOO_SLOW, f"{self._url} did not answer in time")
        try:
            return request()
        except PrometheusApiClientException as err:
            status = _STATUS.search(str(err))
            if status and status.group(1) in ("401", "403"):
                raise SourceError(
                    GpuMetricsReason.PROMETHEUS_UNAUTHORIZED, f"{self._url} refused the request: {err}"
                ) from err
            raise SourceError(GpuMetricsReason.PROMETHEUS_QUERY_FAILED, f"{self._url}: {err}") from err
        except OSError as err:
            # requests' exceptions (connection refused, timeouts, exhausted retries) are OSErrors.
            raise SourceError(
                GpuMetricsReason.PROMETHEUS_UNREACHABLE,
                f"{self._url} unreachable: {type(err).__name__}: {err}",
            ) from err
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            # A body that is not Prometheus' JSON: a proxy's error page, a wrong URL path.
            raise SourceError(
                GpuMetricsReason.PROMETHEUS_QUERY_FAILED, f"{self._url} answered unexpectedly: {err!r}"
            ) from err


async def collect_level_metrics(
    url: str | None,
    token: str | None,
    target_pods: Sequence[PodRef],
    levels: Sequence[LevelWindow],
    *,
    tolerance: GapTolerance = DEFAULT_TOLERANCE,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> tuple[GpuDiscovery, list[LevelMetrics]]:
    """Discover the target's GPU and vLLM series and collect every level's figures.

    Never raises for Prometheus trouble: the returned `GpuDiscovery` carries the condition's reason.
    The blocking HTTP runs in a worker thread, bounded by `timeout_seconds` per request and
    `deadline_seconds` overall (checked before each request).
    """
    if not url:
        empty = [LevelMetrics() for _ in levels]
        return unavailable(GpuMetricsReason.PROMETHEUS_NOT_CONFIGURED, "no Prometheus URL configured"), empty
    source = PrometheusSource(url, token, timeout_seconds, deadline_seconds)
    return await asyncio.to_thread(collect, source, target_pods, levels, tolerance)


class PrometheusQueryError(RuntimeError):
    """An instant query failed; the message says how (unreachable, refused, too slow, malformed)."""


async def instant_query(url: str, token: str | None, query: str, at: float) -> dict[str, Any]:
    """The JSON body of one instant query evaluated at `at`, bounded by the client's timeouts."""
    source = PrometheusSource(url, token)
    try:
        result = await asyncio.to_thread(source.query, query, at)
    except SourceError as exc:
        raise PrometheusQueryError(str(exc)) from exc
    return {"status": "success", "data": {"resultType": "vector", "result": result}}
