"""The real mock server on 127.0.0.1 (a free port), in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
