"""The live stream's API-server client against a loopback HTTP server: the caller's token is what it
sends, an answer over the bound is refused, and errors carry the API server's own message only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtest_operator.io import user_reads
from loadtest_operator.io.user_reads import ApiServer, UserReadError, UserReads

SEEN: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append(self.headers.get("Authorization", ""))
        name = self.path.rsplit("/", 1)[-1]
        status, body = {
            "ok": (200, json.dumps({"metadata": {"name": "ok"}}).encode()),
            "big": (200, b"[" + b"0," * (user_reads.MAX_ANSWER_BYTES // 2) + b"0]"),
            "denied": (
                403,
                json.dumps({"kind": "Status", "message": 'loadtests "denied" is forbidden'}).encode(),
            ),
            "html": (500, b"<html>secret internals</html>"),
            "list": (200, b"[1, 2]"),
        }[name]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def reads() -> Iterator[UserReads]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield UserReads(ApiServer(f"http://127.0.0.1:{server.server_address[1]}"))
    server.shutdown()


async def test_reads_with_the_callers_token(reads: UserReads) -> None:
    assert await reads.loadtest("ns", "ok", "the-token") == {"metadata": {"name": "ok"}}
    assert SEEN[-1] == "Bearer the-token"
    await reads.close()


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("big", 502, "exceeds"),
        ("denied", 403, 'loadtests "denied" is forbidden'),
        ("html", 500, "HTTP 500"),
        ("list", 502, "not an object"),
    ],
)
async def test_refusals_and_bounds(reads: UserReads, name: str, status: int, message: str) -> None:
    with pytest.raises(UserReadError) as caught:
        await reads.loadtest("ns", name, "t")
    assert caught.value.status == status
    assert message in str(caught.value)
    assert "secret internals" not in str(caught.value)
    await reads.close()


async def test_an_unreachable_api_server_is_status_0() -> None:
    reads = UserReads(ApiServer("http://127.0.0.1:1"))
    with pytest.raises(UserReadError) as caught:
        await reads.loadtest("ns", "x", "t")
    assert caught.value.status == 0
    await reads.close()
