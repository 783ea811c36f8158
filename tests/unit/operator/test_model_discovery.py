"""Model discovery (GET /v1/models) against a real HTTP server on 127.0.0.1: the first model of a listing,
and None, in bounded time and memory, for a body that is huge, endless, trickling, compressed or never
sent (the operator then leaves the model to loadgen)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from loadtest_operator.io.addresses import resolve
from loadtest_operator.io.openai import MAX_MODELS_BYTES, ModelDiscovery

Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]
LISTING = json.dumps({"object": "list", "data": [{"id": "llama-3-8b"}, {"id": "other"}]}).encode()


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await handler(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


def head(writer: asyncio.StreamWriter, *headers: str) -> None:
    writer.write(
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + "".join(h + "\r\n" for h in headers)
            + "\r\n"
        ).encode()
    )


async def listing(writer: asyncio.StreamWriter) -> None:
    head(writer, f"Content-Length: {len(LISTING)}")
    writer.write(LISTING)
    await writer.drain()


async def endless(writer: asyncio.StreamWriter) -> None:
    """A body without length that never ends, as fast as the socket takes it."""
    head(writer, "Connection: close")
    await endless_body(writer)


async def announced_huge(writer: asyncio.StreamWriter) -> None:
    head(writer, "Content-Length: 400000000")
    await endless_body(writer)


async def endless_body(writer: asyncio.StreamWriter) -> None:
    chunk = b" " * 65_536
    while True:
        writer.write(chunk)
        await writer.drain()


async def trickle(writer: asyncio.StreamWriter) -> None:
    head(writer, "Content-Length: 1000000")
    while True:
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def silent(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def gzipped(writer: asyncio.StreamWriter) -> None:
    body = gzip.compress(LISTING)
    head(writer, "Content-Encoding: gzip", f"Content-Length: {len(body)}")
    writer.write(body)
    await writer.drain()


async def nested(writer: asyncio.StreamWriter) -> None:
    body = b"[" * 500_000
    head(writer, f"Content-Length: {len(body)}")
    writer.write(body)
    await writer.drain()


async def discover(handler: Handler, deadline: float = 1.0) -> tuple[str | None, float, int]:
    """The model found, the seconds it took, and the peak of Python allocations meanwhile."""
    async with serve(handler) as url:
        discovery = ModelDiscovery(timeout_seconds=deadline)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            model = await discovery.first_model(await resolve(url))
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return model, elapsed, peak


async def test_the_first_model_of_the_listing() -> None:
    model, _, _ = await discover(listing)
    assert model == "llama-3-8b"


@pytest.mark.parametrize(
    ("handler", "deadline", "seconds", "logged"),
    [
        (endless, 5.0, (0.0, 2.0), "body exceeds 1048576 bytes"),
        (announced_huge, 5.0, (0.0, 2.0), "announces 400000000 bytes"),
        (gzipped, 5.0, (0.0, 2.0), "compressed /v1/models (gzip)"),
        (nested, 5.0, (0.0, 2.0), "failed"),
        # httpx's own timeouts are per read: a byte every 50 ms never trips them.
        (trickle, 0.5, (0.4, 1.5), "took over 0.5s"),
        (silent, 0.5, (0.4, 1.5), "took over 0.5s"),
    ],
    ids=["endless body", "400 MB announced", "compressed", "nested past recursion", "trickling", "no answer"],
)
async def test_no_listing_is_none_in_bounded_time_and_memory(
    handler: Handler,
    deadline: float,
    seconds: tuple[float, float],
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", "llmload.operator")
    model, elapsed, peak = await discover(handler, deadline)

    assert model is None
    assert seconds[0] < elapsed < seconds[1]
    assert peak < 4 * MAX_MODELS_BYTES, f"{peak / 2**20:.1f} MiB"
    assert logged in caplog.text
    assert "loadgen will ask itself" in caplog.text


def answer(body: bytes) -> Handler:
    async def handler(writer: asyncio.StreamWriter) -> None:
        head(writer, f"Content-Length: {len(body)}")
        writer.write(body)
        await writer.drain()

    return handler


async def version_of(handler: Handler) -> str | None:
    async with serve(handler) as url:
        return await ModelDiscovery(timeout_seconds=1.0).server_version(await resolve(url))


async def test_the_vllm_version_as_vllm_serves_it() -> None:
    assert await version_of(answer(b'{"version": "0.9.1"}')) == "0.9.1"
    assert await version_of(answer(b'{"version": "0.10.1rc2.dev13+g1234abc"}')) == "0.10.1rc2.dev13+g1234abc"


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": "<script>alert(1)</script>"}',  # not a version: nothing of the body reaches status
        b'{"version": "' + b"1" * 100 + b'"}',
        b'{"version": 9}',
        b"[]",
        b"not json",
    ],
)
async def test_anything_else_is_no_version(body: bytes) -> None:
    assert await version_of(answer(body)) is None


async def test_a_version_that_never_comes_is_none_in_bounded_time() -> None:
    started = time.perf_counter()
    async with serve(silent) as url:
        assert await ModelDiscovery(timeout_seconds=0.3).server_version(await resolve(url)) is None
    assert time.perf_counter() - started < 1.5
    async with serve(endless) as url:
        assert await ModelDiscovery(timeout_seconds=5.0).server_version(await resolve(url)) is None
