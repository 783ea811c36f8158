"""The batching mock on loopback, measured by the real load generator: TPOT follows base + per_seq x C."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from loadgen.runner import run
from mockservers.latency import BatchingLatency, batching_tpot_ms
from mockservers.openai_server import MockConfig, MockServer, serve

from .conftest import small_config

BASE_MS, PER_SEQ_MS = 8.0, 2.0
OUTPUT_TOKENS = 16


@pytest.fixture
async def batching_mock() -> AsyncIterator[tuple[MockServer, str, int]]:
    latency = BatchingLatency(BASE_MS / 1000, PER_SEQ_MS / 1000, prefill_per_token_s=0.0)
    runner, server, port = await serve(MockConfig(host="127.0.0.1", port=0, max_running=4), latency)
    try:
        yield server, f"http://127.0.0.1:{port}", port
    finally:
        await runner.cleanup()


async def test_measured_tpot_is_base_plus_per_seq_times_concurrency(
    batching_mock: tuple[MockServer, str, int],
) -> None:
    _, url, _ = batching_mock
    for users in (1, 4):
        config = small_config(
            url,
            levels=[users],
            requests_per_level=3 * users,
            warmup_requests=0,
            workload={"input_tokens": {"mean": 16}, "output_tokens": OUTPUT_TOKENS},
        )
        level = (await run(config)).levels[0]
        assert level.successes == 3 * users
        summary = level.summary()
        assert summary.tpot.p50 is not None
        # Out-of-step users leave the batch for a step between requests: a little below the formula.
        expected = batching_tpot_ms(BASE_MS, PER_SEQ_MS, users)
        assert summary.tpot.p50 == pytest.approx(expected, rel=0.15), (users, summary.tpot)


async def test_beyond_max_running_requests_queue_and_metrics_follow_the_engine(
    batching_mock: tuple[MockServer, str, int],
) -> None:
    server, url, _ = batching_mock
    seen: list[tuple[float, float, float]] = []

    async def watch() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(15):
                async with session.get(f"{url}/metrics") as resp:
                    text = await resp.text()
                values = {
                    line.split("{")[0]: float(line.split()[-1])
                    for line in text.splitlines()
                    if line.startswith(("vllm:num_requests_", "vllm:kv_cache_usage_perc"))
                }
                seen.append(
                    (
                        values["vllm:num_requests_running"],
                        values["vllm:num_requests_waiting"],
                        values["vllm:kv_cache_usage_perc"],
                    )
                )
                await asyncio.sleep(0.02)

    config = small_config(url, levels=[8], requests_per_level=16, warmup_requests=0)
    result, _ = await asyncio.gather(run(config), watch())
    assert result.levels[0].successes == 16
    summary = result.levels[0].summary()
    assert max(r for r, _, _ in seen) == 4  # max_running is max-num-seqs
    assert max(w for _, w, _ in seen) >= 1
    assert max(k for _, _, k in seen) > 0
    assert all(r <= 4 for r, _, _ in seen)
    # At the cap TPOT stops growing: every step runs 4.
    assert summary.tpot.p50 == pytest.approx(batching_tpot_ms(BASE_MS, PER_SEQ_MS, 8, 4), rel=0.15)
    # A queued request waits for a running one to finish: 8 tokens at 16 ms, much more than one step.
    assert summary.ttft.p50 is not None
    assert summary.ttft.p50 > 3 * (BASE_MS + 4 * PER_SEQ_MS)
    # Idle again afterwards, the KV cache freed.
    assert server.metrics.running == 0
    assert server.metrics.waiting == 0
    engine_text = await _metrics(url)
    assert 'vllm:kv_cache_usage_perc{engine="0",model_name="mock-model"} 0.0' in engine_text


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        return await resp.text()


async def test_non_streaming_and_chat_requests_go_through_the_engine(
    batching_mock: tuple[MockServer, str, int],
) -> None:
    _, url, _ = batching_mock
    for api, stream in (("chat", True), ("completions", False)):
        config = small_config(url, api=api, stream=stream, levels=[2], requests_per_level=4)
        level = (await run(config)).levels[0]
        assert level.successes == 4
        assert level.raw.output_tokens == [8] * 4
