"""The real mock server on 127.0.0.1 (a free port): in the test's own event loop, or as its own process."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from loadgen.config import RunConfig, build_config
from mockservers.latency import FixedLatency
from mockservers.openai_server import MockConfig, MockServer, serve

StartMock = Callable[..., Awaitable[tuple[MockServer, str]]]


@pytest.fixture
async def start_mock() -> AsyncIterator[StartMock]:
    runners = []

    async def start(ttft_ms: float = 0.0, itl_ms: float = 0.0, **options: Any) -> tuple[MockServer, str]:
        runner, server, port = await serve(
            MockConfig(host="127.0.0.1", port=0, **options), FixedLatency(ttft_ms / 1000, itl_ms / 1000)
        )
        runners.append(runner)
        return server, f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def small_config(url: str, **fields: Any) -> RunConfig:
    data: dict[str, Any] = {
        "target_url": url,
        "levels": [4],
        "requests_per_level": 12,
        "request_timeout_seconds": 10,
        "workload": {"input_tokens": {"mean": 40}, "output_tokens": 8},
    }
    data.update(fields)
    return build_config(data)


@contextlib.contextmanager
def mock_process(*flags: str) -> Iterator[str]:
    """`python -m mockservers openai --port 0 FLAGS` on 127.0.0.1; yields its URL, stops it after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockservers", "openai", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["host"] == "127.0.0.1"
        yield f"http://127.0.0.1:{line['port']}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
