"""`llmload-mock openai --fault ...`: each fault does what it says, on the requests it says, on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from mockservers.faults import malformed_events
from mockservers.openai_server import MockConfig, serve

Start = Callable[..., Awaitable[str]]
BODY = {"model": "mock-model", "prompt": "a b c", "max_tokens": 4, "stream": True}


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    runners = []

    async def go(**options: Any) -> str:
        runner, _, port = await serve(MockConfig(host="127.0.0.1", port=0, **options))
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield go
    for runner in runners:
        await runner.cleanup()


async def post(url: str, body: dict[str, Any] = BODY, path: str = "/v1/completions") -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body) as resp:
        return resp.status, await resp.read()


async def first_bytes(url: str, limit: int, body: dict[str, Any] = BODY) -> tuple[int, bytes]:
    """The status and the first `limit` bytes of the body; then the client leaves."""
    async with aiohttp.ClientSession() as session, session.post(url + "/v1/completions", json=body) as resp:
        got = b""
        while len(got) < limit and (data := await resp.content.read(limit - len(got))):
            got += data
        return resp.status, got


async def test_no_fault_flag_serves_good_streams(start: Start) -> None:
    url = await start()
    status, body = await post(url)
    assert status == 200
    assert body.endswith(b"data: [DONE]\n\n")


async def test_huge_error_is_a_500_with_a_body_of_the_given_length(start: Start) -> None:
    url = await start(fault="huge-error", fault_bytes=200_000)
    status, body = await post(url)
    assert status == 500
    assert len(body) == 200_000
    assert json.loads(body)["code"] == 500


async def test_huge_error_stops_writing_when_the_client_leaves(start: Start) -> None:
    url = await start(fault="huge-error")  # 300 MB, were it written to the end
    status, head = await first_bytes(url, 4096)
    assert (status, len(head)) == (500, 4096)
    assert (await post(url, {**BODY, "stream": False}))[0] == 500  # the server is still there


@pytest.mark.parametrize("stream", [True, False])
async def test_endless_event_never_ends_its_event(start: Start, stream: bool) -> None:
    url = await start(fault="endless-event")
    status, got = await first_bytes(url, 3 << 20, {**BODY, "stream": stream})
    assert (status, len(got)) == (200, 3 << 20)
    assert b"\n\n" not in got
    assert got.startswith(b"data: {" if stream else b'{"id"')


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
async def test_malformed_chunk_puts_one_garbage_event_after_the_first_token(start: Start, path: str) -> None:
    url = await start(fault="malformed-chunk")
    chat = path.endswith("chat/completions")
    body = {**BODY, "messages": [{"role": "user", "content": "a b"}]} if chat else BODY
    garbage = malformed_events(chat)
    for i in range(len(garbage) + 1):  # every kind in turn, then the first again
        status, stream = await post(url, body, path)
        events = stream.split(b"\n\n")
        assert status == 200
        expected = garbage[i % len(garbage)]
        assert events.count(expected) == 1
        assert events.index(expected) == (2 if chat else 1)  # (a chat stream opens with its role chunk)
        assert stream.endswith(b"data: [DONE]\n\n")


async def test_a_fault_hits_every_nth_request_only(start: Start) -> None:
    url = await start(fault="huge-error", fault_every=3, fault_bytes=1000)
    statuses = [(await post(url))[0] for _ in range(7)]
    assert statuses == [200, 200, 500, 200, 200, 500, 200]


async def test_hang_reads_the_request_and_never_answers(start: Start) -> None:
    url = await start(fault="hang", fault_every=2)
    assert (await post(url))[0] == 200
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(post(url), 0.5)
    assert (await post(url))[0] == 200  # the next one is answered
