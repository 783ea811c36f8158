"""The Prometheus client: error classification, timeouts and the deadline, the instant-query path.

The first tests stub the HTTP calls; the rest talk to servers this file opens on 127.0.0.1 (one that
accepts and never answers, one that trickles bytes, one with canned Prometheus answers), so the
timeouts are the real ones of requests and urllib3.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from loadtest_operator.api.gpu import GpuMetricsReason
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow, SourceError, SourceErrorKind
from loadtest_operator.gpu.discovery import PodRef
from loadtest_operator.io.prometheus import PrometheusSource, collect_level_metrics, instant_values

URL = "http://127.0.0.1:9"
LOOPBACK = "127.0.0.1"


def raising(err: Exception) -> Callable[[], NoReturn]:
    def call() -> NoReturn:
        raise err

    return call


@pytest.mark.parametrize(
    ("err", "kind", "reason"),
    [
        (
            PrometheusApiClientException("HTTP Status Code 401 (b'Unauthorized')"),
            SourceErrorKind.UNAUTHORIZED,
            GpuMetricsReason.PROMETHEUS_UNAUTHORIZED,
        ),
        (
            PrometheusApiClientException("HTTP Status Code 403 (b'Forbidden')"),
            SourceErrorKind.UNAUTHORIZED,
            GpuMetricsReason.PROMETHEUS_UNAUTHORIZED,
        ),
        (
            PrometheusApiClientException("HTTP Status Code 400 (b'bad_data')"),
            SourceErrorKind.QUERY_FAILED,
            GpuMetricsReason.PROMETHEUS_QUERY_FAILED,
        ),
        (
            PrometheusApiClientException("HTTP Status Code 503 (b'')"),
            SourceErrorKind.QUERY_FAILED,
            GpuMetricsReason.PROMETHEUS_QUERY_FAILED,
        ),
        (
            ConnectionRefusedError("refused"),
            SourceErrorKind.UNREACHABLE,
            GpuMetricsReason.PROMETHEUS_UNREACHABLE,
        ),
        (
            TimeoutError("read timed out"),
            SourceErrorKind.UNREACHABLE,
            GpuMetricsReason.PROMETHEUS_UNREACHABLE,
        ),
        (
            ValueError("Expecting value: line 1 column 1"),
            SourceErrorKind.MALFORMED,
            GpuMetricsReason.PROMETHEUS_QUERY_FAILED,
        ),
        (KeyError("data"), SourceErrorKind.MALFORMED, GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
    ],
)
def test_failures_are_classified(err: Exception, kind: SourceErrorKind, reason: GpuMetricsReason) -> None:
    source = PrometheusSource(URL)
    with pytest.raises(SourceError) as caught:
        source._call(raising(err))
    assert caught.value.kind is kind
    assert caught.value.reason is reason
    assert URL in caught.value.detail


def test_requests_exceptions_count_as_unreachable() -> None:
    # requests is what PrometheusConnect uses; its exceptions are OSErrors.
    import requests  # type: ignore[import-untyped,unused-ignore]

    source = PrometheusSource(URL)
    with pytest.raises(SourceError) as caught:
        source._call(raising(requests.exceptions.ConnectionError("no route")))
    assert caught.value.kind is SourceErrorKind.UNREACHABLE


def test_a_timeout_that_runs_into_the_deadline_is_too_slow() -> None:
    import requests  # type: ignore[import-untyped,unused-ignore]

    now = [0.0]
    source = PrometheusSource(URL, deadline_seconds=10.0, clock=lambda: now[0])
    # How requests reports a read timeout with read retries off: ConnectionError(MaxRetryError(ReadTimeout)).
    wrapped = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/api/v1/query", ReadTimeoutError(None, "/api/v1/query", "Read timed out."))  # type: ignore[arg-type]
    )

    def times_out() -> NoReturn:
        now[0] = 10.0
        raise wrapped

    with pytest.raises(SourceError) as caught:
        source._call(times_out)
    assert caught.value.kind is SourceErrorKind.TOO_SLOW
    # Refused at the deadline is still unreachable: only a timeout is cut by the deadline.
    now[0] = 0.0
    source = PrometheusSource(URL, deadline_seconds=10.0, clock=lambda: now[0])

    def refused() -> NoReturn:
        now[0] = 10.0
        raise ConnectionRefusedError("refused")

    with pytest.raises(SourceError) as caught:
        source._call(refused)
    assert caught.value.kind is SourceErrorKind.UNREACHABLE


def test_past_the_deadline_nothing_is_sent() -> None:
    now = [0.0]
    source = PrometheusSource(URL, deadline_seconds=10.0, clock=lambda: now[0])
    calls: list[int] = []
    assert source._call(lambda: calls.append(1)) is None
    now[0] = 10.5
    with pytest.raises(SourceError) as caught:
        source._call(lambda: calls.append(2))
    assert caught.value.kind is SourceErrorKind.TOO_SLOW
    assert caught.value.reason is GpuMetricsReason.PROMETHEUS_TOO_SLOW
    assert calls == [1]


def test_bearer_token_and_timeout_reach_the_client() -> None:
    client: Any = PrometheusSource(URL + "/", token="s3cret", timeout_seconds=2.5)._client
    assert client.headers == {"Authorization": "Bearer s3cret"}
    assert client._timeout == 2.5
    assert client.url == URL
    assert PrometheusSource(URL)._client.headers is None


def test_series_and_query_shape_the_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    source = PrometheusSource(URL, timeout_seconds=5.0, deadline_seconds=60.0, clock=lambda: now[0])
    seen: dict[str, Any] = {}

    def get_series(start: Any, end: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
        seen["series"] = (start.timestamp(), end.timestamp(), params)
        return [{"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": 0}]

    def custom_query(query: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        seen.setdefault("query", []).append((query, params, timeout))
        return []

    monkeypatch.setattr(source._client, "get_series", get_series)
    monkeypatch.setattr(source._client, "custom_query", custom_query)
    assert source.series(['a{x="1"}', "b"], 100.0, 200.5) == [
        {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0"}
    ]
    assert seen["series"] == (100.0, 200.5, {"match[]": ['a{x="1"}', "b"]})
    assert source.query("up", 1700000000.1234) == []
    now[0] = 58.0  # 2 s left of the deadline: the request's timeout shrinks to them
    assert source.query("up", 1.0) == []
    assert seen["query"] == [("up", {"time": "1700000000.123"}, 5.0), ("up", {"time": "1.000"}, 2.0)]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ([{"metric": {}, "value": [1.0, "412.5"]}], 412.5),
        ([], None),
        ([{"metric": {}, "value": [1.0, "NaN"]}], None),
    ],
)
def test_value_of_an_instant_vector(
    monkeypatch: pytest.MonkeyPatch, answer: list[dict[str, Any]], expected: float | None
) -> None:
    source = PrometheusSource(URL)
    monkeypatch.setattr(source._client, "custom_query", lambda *_, **__: answer)
    assert source.value("sum(up)", 1.0) == expected


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (
            [{"metric": {"a": "1"}, "value": [1, "1"]}, {"metric": {"a": "2"}, "value": [1, "2"]}],
            "one series",
        ),
        ([1700000000.0, "2"], "not an instant vector"),  # a scalar's result, not a vector
        ([{"metric": {}, "value": "not a pair"}], "ValueError|IndexError"),
        ({"resultType": "vector"}, "not an instant vector"),
    ],
)
def test_a_value_from_a_malformed_answer(monkeypatch: pytest.MonkeyPatch, answer: Any, match: str) -> None:
    source = PrometheusSource(URL)
    monkeypatch.setattr(source._client, "custom_query", lambda *_, **__: answer)
    with pytest.raises(SourceError, match=match) as caught:
        source.value("x", 1.0)
    assert caught.value.kind is SourceErrorKind.MALFORMED


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
    assert caught.value.kind is SourceErrorKind.MALFORMED
    assert caught.value.reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED


# -- against servers on loopback ---------------------------------------------------------------------


@contextmanager
def silent_server(trickle_every: float | None = None) -> Iterator[str]:
    """A server that accepts every connection and never answers (or, with `trickle_every`, sends one
    byte of a never-ending header that often, so no single read ever times out)."""
    listener = socket.create_server((LOOPBACK, 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def trickle(conn: socket.socket) -> None:
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not stop.wait(trickle_every):
                conn.sendall(b"a")
        except OSError:
            pass

    listener.settimeout(0.05)  # so the accepting thread sees `stop` soon

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            if trickle_every is not None:
                threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()
        thread.join(timeout=5)


def closed_port() -> str:
    with socket.create_server((LOOPBACK, 0)) as sock:
        return f"http://{LOOPBACK}:{sock.getsockname()[1]}"


async def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    with silent_server() as url:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            await instant_values(
                url, None, ["sum(up)", "sum(up)"], 1.0, timeout_seconds=0.3, deadline_seconds=30
            )
        elapsed = time.monotonic() - started
    assert caught.value.kind is SourceErrorKind.UNREACHABLE
    assert "timed out" in caught.value.detail
    assert elapsed < 2.0  # one request's timeout (read timeouts are not retried), not the deadline


async def test_a_server_that_never_answers_fails_at_the_deadline() -> None:
    with silent_server() as url:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            await instant_values(url, None, ["sum(up)"], 1.0, timeout_seconds=30, deadline_seconds=0.4)
        elapsed = time.monotonic() - started
    assert caught.value.kind is SourceErrorKind.TOO_SLOW
    assert 0.3 < elapsed < 2.0


async def test_a_trickling_server_cannot_stretch_the_call_past_the_deadline() -> None:
    # Every read gets a byte in time, so no per-request timeout ever fires: only the deadline ends it.
    with silent_server(trickle_every=0.05) as url:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            await instant_values(url, None, ["sum(up)"], 1.0, timeout_seconds=0.5, deadline_seconds=1.0)
        elapsed = time.monotonic() - started
    assert caught.value.kind is SourceErrorKind.TOO_SLOW
    assert elapsed < 2.5


async def test_the_event_loop_keeps_running_while_prometheus_is_silent() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    with silent_server() as url:
        ticker = asyncio.create_task(tick())
        with pytest.raises(SourceError):
            await instant_values(url, None, ["up"], 1.0, timeout_seconds=0.5, deadline_seconds=5)
        ticker.cancel()
    assert ticks >= 10  # about 25 in 0.5 s; a blocked loop would tick once or not at all


async def test_connection_refused_is_unreachable() -> None:
    with pytest.raises(SourceError) as caught:
        await instant_values(closed_port(), None, ["up"], 1.0, timeout_seconds=1, deadline_seconds=5)
    assert caught.value.kind is SourceErrorKind.UNREACHABLE


async def test_collect_level_metrics_against_a_silent_server_reports_unreachable() -> None:
    with silent_server() as url:
        started = time.monotonic()
        discovery, levels = await collect_level_metrics(
            url, None, [PodRef("p", "ns")], [LevelWindow(1.0, 2.0, 0)], timeout_seconds=0.3
        )
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_UNREACHABLE
    assert levels == [LevelMetrics()]
    assert time.monotonic() - started < 2.0


Answer = tuple[int, str, bytes]  # status, content type, body


def vector_body(*values: str) -> bytes:
    result = [{"metric": {"i": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


@contextmanager
def canned_prometheus(answer: Callable[[str], Answer]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server answering /api/v1/query with `answer(query)`; it records every request."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            seen.append({"path": parts.path, "params": params, "auth": self.headers.get("Authorization")})
            status, content_type, body = answer(params.get("query", ""))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


JSON = "application/json"


async def test_instant_values_asks_at_the_given_time_with_the_token() -> None:
    answers = {"peak": vector_body("412.5"), "empty": vector_body(), "nan": vector_body("NaN")}
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    with canned_prometheus(lambda q: (200, JSON, answers[q])) as (url, seen):
        values = await instant_values(url, "s3cret", ["peak", "empty", "nan"], at)
    assert values == [412.5, None, None]
    assert [r["params"] for r in seen] == [{"query": q, "time": f"{at.timestamp():.3f}"} for q in answers]
    assert {r["path"] for r in seen} == {"/api/v1/query"}
    assert {r["auth"] for r in seen} == {"Bearer s3cret"}


async def test_no_token_sends_no_authorization_header() -> None:
    with canned_prometheus(lambda q: (200, JSON, vector_body("1"))) as (url, seen):
        assert await instant_values(url, None, ["up"], 1700000000.0) == [1.0]
    assert seen[0]["auth"] is None
    assert seen[0]["params"]["time"] == "1700000000.000"


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ((401, "text/plain", b"Unauthorized"), SourceErrorKind.UNAUTHORIZED),
        ((403, "text/plain", b"Forbidden"), SourceErrorKind.UNAUTHORIZED),
        (
            (400, JSON, b'{"status":"error","errorType":"bad_data","error":"parse error"}'),
            SourceErrorKind.QUERY_FAILED,
        ),
        ((502, "text/html", b"<html>Bad Gateway</html>"), SourceErrorKind.QUERY_FAILED),
        ((200, "text/html", b"<html>a login page</html>"), SourceErrorKind.MALFORMED),
        ((200, JSON, b'{"status":"success"}'), SourceErrorKind.MALFORMED),
        ((200, JSON, vector_body("1", "2")), SourceErrorKind.MALFORMED),
    ],
)
async def test_instant_values_raises_the_classified_error(answer: Answer, kind: SourceErrorKind) -> None:
    with canned_prometheus(lambda q: answer) as (url, seen), pytest.raises(SourceError) as caught:
        await instant_values(url, None, ["first", "second"], 1.0)
    assert caught.value.kind is kind
    assert len(seen) == 1  # the first failure ends the call: no retry on an answer
