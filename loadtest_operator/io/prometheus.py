"""The operator's one Prometheus client: two calls of Prometheus' HTTP API (`/api/v1/series`,
`/api/v1/query`) over httpx, to checked addresses only, bounded in size and time.

Two users: a LoadTest's GPU and vLLM figures per level (`collect_level_metrics`) and a
CapacityRecommendation's fromPrometheus workload (`instant_values`). Both go through `PrometheusSource`,
so both get the same bounds and the same errors:

- every request goes to the addresses of the `Pin` the caller checked (io/addresses.py; without one, the
  URL's host is resolved once, at the first request): the name is never resolved again (io/fetch.py);
- every request ends within its timeout (default 5 s, wall clock: a server that trickles bytes cannot
  stretch it), cut to what is left of one overall deadline (default 60 s), checked before each request;
- every answer is read as a stream and refused past `max_bytes` (LLMLOAD_PROMETHEUS_MAX_BYTES, default
  16 MiB); the server is asked not to compress;
- every failure is raised as one type, `SourceError`, with a `kind` (`SourceErrorKind`: UNREACHABLE,
  UNAUTHORIZED, QUERY_FAILED, TOO_SLOW, MALFORMED, TOO_LARGE) and a `detail` for a person. No raw body
  reaches a detail: of an error answer only Prometheus' own `errorType` and `error`, cut short.

The source is blocking (the `MetricsSource` protocol of gpu/collect.py): call it from a worker thread.
Each request runs on a short-lived event loop of that thread, so its timeout is a real cancellation.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

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
from loadtest_operator.io.addresses import Pin, resolve
from loadtest_operator.io.fetch import IDENTITY, PIN, AnswerTooLargeError, PinnedTransport, read_bounded

__all__ = [
    "DEFAULT_DEADLINE_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "PrometheusSource",
    "SourceError",
    "SourceErrorKind",
    "collect_level_metrics",
    "instant_values",
]

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_DEADLINE_SECONDS = 60.0
DEFAULT_MAX_BYTES = 16 << 20  # 16 MiB: the series of thousands of GPUs; an instant vector is far smaller
ERROR_TEXT = 300  # characters of Prometheus' own error message kept in a detail

# Makes the transport a request is sent through: tests hand in one that trusts their own CA.
TransportFactory = Callable[[], httpx.AsyncBaseTransport]


def _default_transport() -> httpx.AsyncBaseTransport:
    return PinnedTransport()


def _resolve_once(url: str) -> Pin:
    """The Pin of a caller that checked nothing (tests, the CLI): still one resolution for all requests."""

    async def system(host: str, port: int) -> list[str]:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(i[4][0]) for i in infos))

    return asyncio.run(resolve(url, system))


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
        *,
        pin: Pin | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        transport: TransportFactory = _default_transport,
    ) -> None:
        self._url = url
        self._base = url.rstrip("/")
        self._headers = {**IDENTITY, **({"Authorization": f"Bearer {token}"} if token else {})}
        self._clock = clock
        self._timeout = timeout_seconds
        self._deadline = clock() + deadline_seconds
        self._pin = pin
        self._max_bytes = max_bytes
        self._transport = transport

    def series(self, matches: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        params = [("match[]", m) for m in matches] + [("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        data = self._call("/api/v1/series", params)

        def shape() -> list[dict[str, str]]:
            return [{str(k): str(v) for k, v in item.items()} for item in data]

        result: list[dict[str, str]] = self._classified(shape)
        return result

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """The instant vector of `expr` at `at` (unix seconds): Prometheus' `data.result` list."""
        data = self._call("/api/v1/query", [("query", expr), ("time", f"{at:.3f}")])

        def shape() -> list[dict[str, Any]]:
            result = data["result"]
            if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
                raise ValueError(f"not an instant vector: {type(result).__name__}")
            return result

        vector: list[dict[str, Any]] = self._classified(shape)
        return vector

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

    def _classified(self, shape: Callable[[], Any]) -> Any:
        try:
            return shape()
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise SourceError(
                SourceErrorKind.MALFORMED, f"{self._url} answered unexpectedly: {err!r:.300}"
            ) from err

    def _call(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        """Prometheus' `data` of one successful GET, or a classified SourceError."""
        if self._clock() > self._deadline:
            raise SourceError(SourceErrorKind.TOO_SLOW, f"{self._url} did not answer in time")
        if self._pin is None:
            self._pin = _resolve_once(self._url)
        timeout = self._remaining()
        try:
            status, body = asyncio.run(self._get(path, params, timeout))
        except TimeoutError:
            if self._clock() >= self._deadline:
                raise SourceError(
                    SourceErrorKind.TOO_SLOW, f"{self._url} did not answer {path} before the deadline"
                ) from None
            raise SourceError(
                SourceErrorKind.UNREACHABLE, f"{self._url} unreachable: {path} timed out after {timeout:g}s"
            ) from None
        except AnswerTooLargeError as err:
            raise SourceError(
                SourceErrorKind.TOO_LARGE,
                f"{self._url} answered {path} with more than {err.max_bytes} bytes, the operator's bound "
                "(LLMLOAD_PROMETHEUS_MAX_BYTES, the chart's prometheus.maxAnswerBytes); raise it, or narrow "
                "the query (fewer target pods or a shorter window)",
            ) from None
        except ValueError as err:  # a compressed body
            raise SourceError(SourceErrorKind.MALFORMED, f"{self._url} answered {path}: {err}") from None
        except (httpx.HTTPError, OSError) as err:
            if isinstance(err, httpx.TimeoutException) and self._clock() >= self._deadline:
                raise SourceError(
                    SourceErrorKind.TOO_SLOW, f"{self._url} did not answer {path} before the deadline"
                ) from err
            raise SourceError(
                SourceErrorKind.UNREACHABLE, f"{self._url} unreachable: {type(err).__name__}: {err}"
            ) from err
        if status != 200:
            kind = SourceErrorKind.UNAUTHORIZED if status in (401, 403) else SourceErrorKind.QUERY_FAILED
            said = _prometheus_error(body)
            verb = "refused the request" if kind is SourceErrorKind.UNAUTHORIZED else f"failed {path}"
            raise SourceError(kind, f"{self._url} {verb}: HTTP Status Code {status}{said}")
        try:
            answer = json.loads(body)
            if answer.get("status") != "success":
                raise ValueError(f"status {answer.get('status')!r}")
            return answer["data"]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
            # A body that is not Prometheus' JSON (a proxy's error page, a wrong URL path).
            raise SourceError(
                SourceErrorKind.MALFORMED, f"{self._url} answered {path} with something not Prometheus' JSON"
            ) from err

    async def _get(self, path: str, params: Sequence[tuple[str, str]], seconds: float) -> tuple[int, bytes]:
        async with (
            asyncio.timeout(seconds),
            httpx.AsyncClient(transport=self._transport(), trust_env=False) as client,
            client.stream(
                "GET",
                self._base + path,
                params=tuple(params),
                headers=self._headers,
                timeout=seconds,
                extensions={PIN: self._pin},
            ) as resp,
        ):
            return resp.status_code, await read_bounded(resp, self._max_bytes, path)


def _prometheus_error(body: bytes) -> str:
    """Prometheus' own error of an error answer (`errorType: error`), cut short; nothing else of a body."""
    try:
        answer = json.loads(body)
        said = f"{answer['errorType']}: {answer['error']}"
    except (ValueError, KeyError, TypeError, RecursionError):
        return ""
    return f" ({said[:ERROR_TEXT]})"


async def collect_level_metrics(
    url: str | None,
    token: str | None,
    target_pods: Sequence[PodRef],
    levels: Sequence[LevelWindow],
    *,
    tolerance: GapTolerance = DEFAULT_TOLERANCE,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    pin: Pin | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[GpuDiscovery, list[LevelMetrics]]:
    """Discover the target's GPU and vLLM series and collect every level's figures.

    Never raises for Prometheus trouble: the returned `GpuDiscovery` carries the condition's reason.
    The blocking HTTP runs in a worker thread, bounded by `timeout_seconds` per request and
    `deadline_seconds` overall (checked before each request, and cutting the last request's timeout),
    to the addresses of `pin` (the caller's checked ones), each answer at most `max_bytes`.
    """
    if not url:
        empty = [LevelMetrics() for _ in levels]
        return unavailable(GpuMetricsReason.PROMETHEUS_NOT_CONFIGURED, "no Prometheus URL configured"), empty
    source = PrometheusSource(url, token, timeout_seconds, deadline_seconds, pin=pin, max_bytes=max_bytes)
    return await asyncio.to_thread(collect, source, target_pods, levels, tolerance)


async def instant_values(
    url: str,
    token: str | None,
    queries: Sequence[str],
    at: datetime | float,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    pin: Pin | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[float | None]:
    """Evaluate each query as an instant query at `at`; one value per query, in order.

    Call: `peak, prompt, generation = await instant_values(url, token, queries.all(), now)` with
    `now` a datetime (or unix seconds), `token` the bearer token or None. Each query must give at most
    one series (e.g. `sum(...)`, `histogram_quantile(q, sum by (le) ...)`); a query with no data, or a
    NaN, gives None.

    Raises `SourceError` (nothing else for Prometheus trouble), its `kind` one of `SourceErrorKind`:
    UNREACHABLE (refused, DNS, no answer within `timeout_seconds`), UNAUTHORIZED (401/403), QUERY_FAILED
    (any other HTTP error, e.g. a bad query), TOO_SLOW (`deadline_seconds` passed: the whole call never
    takes longer), MALFORMED (not Prometheus' JSON, or several series for one query), TOO_LARGE (an
    answer over `max_bytes`). The requests run in a worker thread, one after another, to the addresses
    of `pin` (the caller's checked ones; None: the URL's host resolved once).
    """
    moment = at.timestamp() if isinstance(at, datetime) else float(at)
    source = PrometheusSource(url, token, timeout_seconds, deadline_seconds, pin=pin, max_bytes=max_bytes)

    def run() -> list[float | None]:
        return [source.value(query, moment) for query in queries]

    try:
        return await asyncio.wait_for(asyncio.to_thread(run), deadline_seconds)
    except TimeoutError:
        # The worker thread is not cancelled; its request ends on its own timeout, cut to the deadline.
        raise SourceError(
            SourceErrorKind.TOO_SLOW, f"{url} did not answer {len(queries)} queries in {deadline_seconds:g}s"
        ) from None
