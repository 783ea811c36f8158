"""The operator's one Prometheus client: prometheus-api-client's `PrometheusConnect` with explicit timeouts.

Two users: a LoadTest's GPU and vLLM figures per level (`collect_level_metrics`) and a
CapacityRecommendation's fromPrometheus workload (`instant_values`). Both go through `PrometheusSource`,
so both get the same bounds and the same errors:

- every request has a timeout (default 5 s), cut to what is left of the deadline;
- one overall deadline (default 60 s) is checked before each request; a request that runs into it, or a
  call still running when it passes, is `TOO_SLOW`;
- every failure is raised as one type, `SourceError`, with a `kind` (`SourceErrorKind`: UNREACHABLE,
  UNAUTHORIZED, QUERY_FAILED, TOO_SLOW, MALFORMED) and a `detail` for a person.

`PrometheusConnect` takes a per-request `timeout`, extra `headers` (the bearer token) and a urllib3
`Retry`, which is all this needs. Its default retry policy (several retries with backoff, also on read
timeouts) would stretch an outage into minutes of a reconcile, so a single quick connect retry replaces
it. Its calls block: they run in a worker thread (`asyncio.to_thread`), never on the event loop.
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
from requests.exceptions import InvalidJSONError  # type: ignore[import-untyped,unused-ignore]
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from loadtest_operator.api.gpu import GpuDiscovery, GpuMetricsReason
from loadtest_operator.capacity.prometheus import scalar_from_vector
from loadtest_operator.gpu.aggregate import DEFAULT_TOLERANCE, GapTolerance
from loadtest_operator.gpu.collect import (
    LevelMetrics,
    LevelWindow,
    SourceError,
    SourceErrorKind,
    collect,
    unavailable,
)
from loadtest_operator.gpu.discovery import PodRef

__all__ = [
    "DEFAULT_DEADLINE_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "PrometheusSource",
    "SourceError",
    "SourceErrorKind",
    "collect_level_metrics",
    "instant_values",
]

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_DEADLINE_SECONDS = 60.0
_STATUS = re.compile(r"HTTP Status Code (\d+)")


class PrometheusSource:
    """A `MetricsSource` over Prometheus' HTTP API; every failure is raised as a classified SourceError.

    Blocking: call it from a worker thread. The deadline runs from construction."""

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
        self._timeout = timeout_seconds
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
        """The instant vector of `expr` at `at` (unix seconds): Prometheus' `data.result` list."""

        def request() -> list[dict[str, Any]]:
            data = self._client.custom_query(expr, params={"time": f"{at:.3f}"}, timeout=self._remaining())
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise ValueError(f"not an instant vector: {data!r:.200}")
            return data

        result: list[dict[str, Any]] = self._call(request)
        return result

    def value(self, expr: str, at: float) -> float | None:
        """The single value of `expr` at `at`, None when it has none (no data, or NaN)."""
        vector = self.query(expr, at)
        try:
            return scalar_from_vector(vector)
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise SourceError(SourceErrorKind.MALFORMED, f"{self._url} answered {expr} with {err!r}") from err

    def _remaining(self) -> float:
        """The per-request timeout, cut to what is left of the deadline (never below 1 ms)."""
        return max(0.001, min(self._timeout, self._deadline - self._clock()))

    def _call(self, request: Callable[[], Any]) -> Any:
        if self._clock() > self._deadline:
            raise SourceError(SourceErrorKind.TOO_SLOW, f"{self._url} did not answer in time")
        try:
            return request()
        except PrometheusApiClientException as err:
            status = _STATUS.search(str(err))
            if status and status.group(1) in ("401", "403"):
                raise SourceError(
                    SourceErrorKind.UNAUTHORIZED, f"{self._url} refused the request: {err}"
                ) from err
            raise SourceError(SourceErrorKind.QUERY_FAILED, f"{self._url}: {err}") from err
        except InvalidJSONError as err:
            # Before OSError: requests' JSON errors are RequestExceptions, hence OSErrors, too.
            raise SourceError(
                SourceErrorKind.MALFORMED, f"{self._url} answered something not JSON: {err}"
            ) from err
        except OSError as err:
            # requests' exceptions (connection refused, timeouts, exhausted retries) are OSErrors.
            if _timed_out(err) and self._clock() >= self._deadline:
                raise SourceError(
                    SourceErrorKind.TOO_SLOW, f"{self._url} did not answer before the deadline: {err}"
                ) from err
            raise SourceError(
                SourceErrorKind.UNREACHABLE, f"{self._url} unreachable: {type(err).__name__}: {err}"
            ) from err
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            # A body that is not Prometheus' JSON (a proxy's error page, a wrong URL path), or not the
            # shape asked for (several series where one was expected).
            raise SourceError(
                SourceErrorKind.MALFORMED, f"{self._url} answered unexpectedly: {err!r}"
            ) from err


def _timed_out(err: BaseException) -> bool:
    """A connect or read timeout, however requests and urllib3 wrapped it (a read timeout with retries
    exhausted arrives as ConnectionError(MaxRetryError(reason=ReadTimeoutError)))."""
    cause = err.args[0] if err.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(err, TimeoutError | Urllib3Timeout) or isinstance(cause, TimeoutError | Urllib3Timeout)


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


async def instant_values(
    url: str,
    token: str | None,
    queries: Sequence[str],
    at: datetime | float,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> list[float | None]:
    """Evaluate each query as an instant query at `at`; one value per query, in order.

    Call: `peak, prompt, generation = await instant_values(url, token, queries.all(), now)` with
    `now` a datetime (or unix seconds), `token` the bearer token or None. Each query must give at most
    one series (e.g. `sum(...)`, `histogram_quantile(q, sum by (le) ...)`); a query with no data, or a
    NaN, gives None.

    Raises `SourceError` (nothing else for Prometheus trouble), its `kind` one of `SourceErrorKind`:
    UNREACHABLE (refused, DNS, no answer within `timeout_seconds`), UNAUTHORIZED (401/403), QUERY_FAILED
    (any other HTTP error, e.g. a bad query), TOO_SLOW (`deadline_seconds` passed: the whole call never
    takes longer), MALFORMED (not Prometheus' JSON, or several series for one query). The requests run
    in a worker thread, one after another.
    """
    moment = at.timestamp() if isinstance(at, datetime) else float(at)
    source = PrometheusSource(url, token, timeout_seconds, deadline_seconds)

    def run() -> list[float | None]:
        return [source.value(query, moment) for query in queries]

    try:
        return await asyncio.wait_for(asyncio.to_thread(run), deadline_seconds)
    except TimeoutError:
        # The worker thread cannot be cancelled; its requests end on their own timeouts.
        raise SourceError(
            SourceErrorKind.TOO_SLOW, f"{url} did not answer {len(queries)} queries in {deadline_seconds:g}s"
        ) from None
