"""The Prometheus client: error classification, timeouts and the deadline, the size bound, the requests.

Every test talks to servers this file opens on 127.0.0.1 (one that accepts and never answers, one that
trickles bytes, one with canned Prometheus answers, one whose answer never ends), so the timeouts and
bounds are the real ones of httpx and the client.
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
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from loadtest_operator.api.gpu import GpuMetricsReason
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow, SourceError, SourceErrorKind
from loadtest_operator.gpu.discovery import PodRef
from loadtest_operator.io.prometheus import PrometheusSource, collect_level_metrics, instant_values

LOOPBACK = "127.0.0.1"
JSON = "application/json"
Answer = tuple[int, str, bytes]  # status, content type, body


def vector_body(*values: str) -> bytes:
    result = [{"metric": {"i": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


def data_body(data: Any) -> bytes:
    return json.dumps({"status": "success", "data": data}).encode()


@contextmanager
def canned_prometheus(
    answer: Callable[[str], Answer], *, by_path: Callable[[str, dict[str, list[str]]], Answer] | None = None
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server answering /api/v1/query with `answer(query)` (or any path with `by_path(path,
    params)`); it records every request."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            multi = parse_qs(parts.query)
            params = {k: v[0] for k, v in multi.items()}
            seen.append(
                {
                    "path": parts.path,
                    "params": params,
                    "multi": multi,
                    "auth": self.headers.get("Authorization"),
                    "host": self.headers.get("Host"),
                    "encoding": self.headers.get("Accept-Encoding"),
                }
            )
            if by_path is not None:
                status, content_type, body = by_path(parts.path, multi)
            else:
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


def source_call(url: str, call: Callable[[PrometheusSource], Any], **kwargs: Any) -> Any:
    """`call(source)` as the operator makes it: in a worker thread (the source blocks)."""
    return asyncio.run(asyncio.to_thread(call, PrometheusSource(url, **kwargs)))


@pytest.mark.parametrize(
    ("answer", "kind", "reason"),
    [
        ((401, "text/plain", b"Unauthorized"), SourceErrorKind.UNAUTHORIZED, GpuMetricsReason.PROMETHEUS_UNAUTHORIZED),
        ((403, "text/plain", b"Forbidden"), SourceErrorKind.UNAUTHORIZED, GpuMetricsReason.PROMETHEUS_UNAUTHORIZED),
        (
            (400, JSON, b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}'),
            SourceErrorKind.QUERY_FAILED,
            GpuMetricsReason.PROMETHEUS_QUERY_FAILED,
        ),
        ((503, "text/plain", b""), SourceErrorKind.QUERY_FAILED, GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
        ((200, "text/html", b"not json"), SourceErrorKind.MALFORMED, GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
        ((200, JSON, b'{"status":"success"}'), SourceErrorKind.MALFORMED, GpuMetricsReason.PROMETHEUS_QUERY_FAILED),
    ],
)  # fmt: skip
def test_failures_are_classified(answer: Answer, kind: SourceErrorKind, reason: GpuMetricsReason) -> None:
    with canned_prometheus(lambda q: answer) as (url, _), pytest.raises(SourceError) as caught:
        source_call(url, lambda s: s.query("up", 1.0))
    assert caught.value.kind is kind
    assert caught.value.reason is reason
    assert url in caught.value.detail


def test_an_error_answer_is_told_by_prometheus_own_words_never_by_its_raw_body() -> None:
    bad = b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}'
    with canned_prometheus(lambda q: (400, JSON, bad)) as (url, _), pytest.raises(SourceError) as caught:
        source_call(url, lambda s: s.query("up{", 1.0))
    assert "HTTP Status Code 400 (bad_data: parse error at char 5)" in caught.value.detail
    page = b"<html>secret-looking proxy page " + b"x" * 5000 + b"</html>"
    with (
        canned_prometheus(lambda q: (502, "text/html", page)) as (url, _),
        pytest.raises(SourceError) as caught,
    ):
        source_call(url, lambda s: s.query("up", 1.0))
    assert caught.value.kind is SourceErrorKind.QUERY_FAILED
    assert "secret-looking" not in caught.value.detail
    assert len(caught.value.detail) < 200


def test_past_the_deadline_nothing_is_sent() -> None:
    now = [0.0]
    with canned_prometheus(lambda q: (200, JSON, vector_body("1"))) as (url, seen):
        source = PrometheusSource(url, deadline_seconds=10.0, clock=lambda: now[0])
        assert asyncio.run(asyncio.to_thread(source.query, "up", 1.0)) != []
        now[0] = 10.5
        with pytest.raises(SourceError) as caught:
            asyncio.run(asyncio.to_thread(source.query, "up", 1.0))
    assert caught.value.kind is SourceErrorKind.TOO_SLOW
    assert caught.value.reason is GpuMetricsReason.PROMETHEUS_TOO_SLOW
    assert len(seen) == 1


def test_the_timeout_shrinks_to_what_is_left_of_the_deadline() -> None:
    now = [0.0]
    source = PrometheusSource(
        "http://127.0.0.1:9", timeout_seconds=5.0, deadline_seconds=60.0, clock=lambda: now[0]
    )
    assert source._remaining() == 5.0
    now[0] = 58.0
    assert source._remaining() == 2.0
    now[0] = 61.0
    assert source._remaining() == 0.001


def test_series_and_query_shape_the_requests() -> None:
    def by_path(path: str, params: dict[str, list[str]]) -> Answer:
        if path == "/api/v1/series":
            return 200, JSON, data_body([{"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": 0}])
        return 200, JSON, vector_body()

    with canned_prometheus(lambda q: (500, JSON, b""), by_path=by_path) as (url, seen):
        series = source_call(url, lambda s: s.series(['a{x="1"}', "b"], 100.0, 200.5), token="s3cret")
        assert source_call(url, lambda s: s.query("up", 1700000000.1234)) == []
    assert series == [{"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0"}]
    assert seen[0]["path"] == "/api/v1/series"
    assert seen[0]["multi"] == {"match[]": ['a{x="1"}', "b"], "start": ["100.000"], "end": ["200.500"]}
    assert seen[0]["auth"] == "Bearer s3cret"
    assert seen[0]["encoding"] == "identity"  # asked not to compress: the bound is on what is decoded
    assert (seen[1]["path"], seen[1]["params"]) == (
        "/api/v1/query",
        {"query": "up", "time": "1700000000.123"},
    )
    assert seen[1]["auth"] is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ([{"metric": {}, "value": [1.0, "412.5"]}], 412.5),
        ([], None),
        ([{"metric": {}, "value": [1.0, "NaN"]}], None),
    ],
)
def test_value_of_an_instant_vector(answer: list[dict[str, Any]], expected: float | None) -> None:
    body = data_body({"resultType": "vector", "result": answer})
    with canned_prometheus(lambda q: (200, JSON, body)) as (url, _):
        assert source_call(url, lambda s: s.value("sum(up)", 1.0)) == expected


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
def test_a_value_from_a_malformed_answer(answer: Any, match: str) -> None:
    body = data_body({"resultType": "vector", "result": answer})
    with (
        canned_prometheus(lambda q: (200, JSON, body)) as (url, _),
        pytest.raises(SourceError, match=match) as caught,
    ):
        source_call(url, lambda s: s.value("x", 1.0))
    assert caught.value.kind is SourceErrorKind.MALFORMED


async def test_no_url_is_a_reason_not_a_request() -> None:
    discovery, levels = await collect_level_metrics(
        None, None, [PodRef("p", "ns")], [LevelWindow(1.0, 2.0, 0)]
    )
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_NOT_CONFIGURED
    assert not discovery.available
    assert levels == [LevelMetrics()]


def test_a_malformed_series_answer_is_a_failed_query() -> None:
    body = data_body(["not", "label", "sets"])
    with (
        canned_prometheus(lambda q: (500, JSON, b""), by_path=lambda p, q: (200, JSON, body)) as (url, _),
        pytest.raises(SourceError) as caught,
    ):
        source_call(url, lambda s: s.series(["x"], 1.0, 2.0))
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


async def test_a_trickling_server_cannot_stretch_a_request_past_its_timeout() -> None:
    # Every read gets a byte in time, so no per-read timeout would ever fire: the request's own wall-clock
    # timeout ends it, and the deadline ends what is left.
    with silent_server(trickle_every=0.05) as url:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            await instant_values(url, None, ["sum(up)"], 1.0, timeout_seconds=0.5, deadline_seconds=30)
        elapsed = time.monotonic() - started
    assert caught.value.kind is SourceErrorKind.UNREACHABLE
    assert "timed out after 0.5s" in caught.value.detail
    assert 0.4 < elapsed < 1.5
    with silent_server(trickle_every=0.05) as url:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            await instant_values(url, None, ["sum(up)"], 1.0, timeout_seconds=5, deadline_seconds=0.6)
        elapsed = time.monotonic() - started
    assert caught.value.kind is SourceErrorKind.TOO_SLOW
    assert elapsed < 1.5


async def test_collect_level_metrics_against_a_trickling_server_ends_in_time() -> None:
    # The GPU figures' path has no wait_for around it: each request's own timeout must bound it.
    with silent_server(trickle_every=0.05) as url:
        started = time.monotonic()
        discovery, _ = await collect_level_metrics(
            url,
            None,
            [PodRef("p", "ns")],
            [LevelWindow(1.0, 2.0, 0)],
            timeout_seconds=0.4,
            deadline_seconds=30,
        )
        elapsed = time.monotonic() - started
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_UNREACHABLE
    assert elapsed < 1.5


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


# -- the size bound ----------------------------------------------------------------------------------


@contextmanager
def endless_answer(announce: int | None = None) -> Iterator[tuple[str, list[int]]]:
    """A server whose 200 answer never ends (or announces `announce` bytes, then sends them forever); it
    counts the bytes it managed to send."""
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    sent = [0]

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                length = f"Content-Length: {announce}\r\n" if announce is not None else ""
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n".encode())
                conn.sendall(b'{"status":"success","data":[')
                chunk = b'{"__name__":"DCGM_FI_DEV_GPU_UTIL","gpu":"0"},' * 1000
                while not stop.is_set():
                    conn.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{listener.getsockname()[1]}", sent
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@pytest.mark.parametrize("announce", [None, 400_000_000], ids=["endless body", "400 MB announced"])
async def test_an_answer_over_the_bound_is_a_clear_failure_not_a_read_of_it_all(announce: int | None) -> None:
    bound = 1 << 20
    with endless_answer(announce) as (url, sent):
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            await instant_values(
                url, None, ["up"], 1.0, timeout_seconds=10, deadline_seconds=30, max_bytes=bound
            )
        elapsed = time.monotonic() - started
    err = caught.value
    assert err.kind is SourceErrorKind.TOO_LARGE
    assert err.reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED
    assert f"more than {bound} bytes" in err.detail
    assert "LLMLOAD_PROMETHEUS_MAX_BYTES" in err.detail
    assert "narrow the query" in err.detail
    assert elapsed < 3.0  # stopped at the bound, not at the 10 s timeout
    assert sent[0] < 64 * bound  # the server could not push much past the bound before the close


async def test_gpu_figures_over_the_bound_say_so_in_the_condition() -> None:
    with endless_answer() as (url, _):
        discovery, levels = await collect_level_metrics(
            url, None, [PodRef("p", "ns")], [LevelWindow(1.0, 2.0, 0)], max_bytes=1 << 16
        )
    assert not discovery.available
    assert discovery.reason is GpuMetricsReason.PROMETHEUS_QUERY_FAILED
    assert "more than 65536 bytes" in discovery.message
    assert "LLMLOAD_PROMETHEUS_MAX_BYTES" in discovery.message
    assert levels == [LevelMetrics()]


def test_an_answer_within_the_bound_is_read_whole() -> None:
    body = data_body([{"__name__": "x", "i": str(i)} for i in range(2000)])
    with canned_prometheus(lambda q: (500, JSON, b""), by_path=lambda p, q: (200, JSON, body)) as (url, _):
        assert len(source_call(url, lambda s: s.series(["x"], 1.0, 2.0), max_bytes=len(body))) == 2000
        with pytest.raises(SourceError) as caught:
            source_call(url, lambda s: s.series(["x"], 1.0, 2.0), max_bytes=len(body) - 1)
    assert caught.value.kind is SourceErrorKind.TOO_LARGE
