"""Output lengths drawn per request, the dataset's own answer lengths, and multi-turn conversations,
end to end against the mock server, which honours max_tokens, min_tokens and ignore_eos as vLLM does
and models vLLM's prefix cache."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadgen.config import OutputTokens
from loadgen.runner import run
from loadgen.workload import sample_output_tokens

from .conftest import StartMock, small_config

# The mock model would end every answer after 3 tokens: only min_tokens + ignore_eos make it longer.
EOS_AFTER = 3


@pytest.mark.parametrize(
    "output",
    [
        {"distribution": "uniform", "min": 5, "max": 40},
        {"distribution": "normal", "mean": 20, "stddev": 8, "min": 4, "max": 36},
    ],
)
async def test_each_request_gets_exactly_its_drawn_length(
    start_mock: StartMock, output: dict[str, Any]
) -> None:
    server, url = await start_mock(eos_after_tokens=EOS_AFTER)
    config = small_config(
        url, requests_per_level=60, seed=7, workload={"input_tokens": {"mean": 30}, "output_tokens": output}
    )
    result = await run(config)
    level = result.levels[0]
    assert (level.successes, level.token_mismatch_count) == (60, 0)
    got = level.raw.output_tokens
    assert sorted(got) == sorted(server.truth.chunks)  # what the server streamed, token by token
    assert len(set(got)) > 10  # a spread, not one length
    assert all(output["min"] <= n <= output["max"] for n in got)
    # The draws are the seed's: the same run again asks for the same multiset of lengths.
    again = await run(config)
    assert sorted(again.levels[0].raw.output_tokens) == sorted(got)


async def test_without_pinning_the_model_stops_at_its_own_length(start_mock: StartMock) -> None:
    """The mock honours EOS like a model: what the pinned test above gets is min_tokens + ignore_eos's."""
    _, url = await start_mock(eos_after_tokens=EOS_AFTER)
    workload = {"input_tokens": {"mean": 30}, "output_tokens": 20, "pin_output_length": False}
    level = (await run(small_config(url, workload=workload))).levels[0]
    assert level.raw.output_tokens == [EOS_AFTER] * 12


def _sharegpt(path: Path, conversations: list[list[tuple[str, str]]]) -> Path:
    data = [
        {
            "id": str(i),
            "conversations": [
                m for q, a in turns for m in ({"from": "human", "value": q}, {"from": "gpt", "value": a})
            ],
        }
        for i, turns in enumerate(conversations)
    ]
    path.write_text(json.dumps(data))
    return path


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(("red", "green", "blue", "cyan", "amber")) for _ in range(n))


def _dataset(tmp_path: Path, conversations: int = 6, turns: int = 4) -> tuple[Path, dict[str, int]]:
    rng = random.Random(3)
    convs = [
        [(_words(rng, rng.randint(20, 60)), _words(rng, rng.randint(2, 30))) for _ in range(turns)]
        for _ in range(conversations)
    ]
    # The mock's tokenizer counts these short words one token each.
    answers = {a: len(a.split()) for conv in convs for _, a in conv}
    return _sharegpt(tmp_path / "sharegpt.json", convs), answers


@pytest.mark.parametrize("api", ["chat", "completions"])
async def test_dataset_answers_set_each_requests_length(
    start_mock: StartMock, tmp_path: Path, api: str
) -> None:
    server, url = await start_mock(eos_after_tokens=EOS_AFTER)
    path, answers = _dataset(tmp_path)
    first_answers = {len(a.split()) for a in answers}
    config = small_config(
        url,
        api=api,
        requests_per_level=30,
        workload={"dataset_path": str(path), "dataset_output_tokens": True},
    )
    result = await run(config)
    level = result.levels[0]
    assert (level.successes, level.token_mismatch_count, result.warnings) == (30, 0, [])
    assert sorted(level.raw.output_tokens) == sorted(server.truth.chunks)
    assert set(level.raw.output_tokens) <= first_answers
    assert len(set(level.raw.output_tokens)) > 1


async def test_without_tokenize_answers_count_words_and_the_run_says_so(
    start_mock: StartMock, tmp_path: Path
) -> None:
    _, url = await start_mock(tokenize_endpoint=False)
    path, _ = _dataset(tmp_path)
    config = small_config(url, workload={"dataset_path": str(path), "dataset_output_tokens": True})
    result = await run(config)
    assert result.levels[0].token_mismatch_count == 0
    assert any("one token per word" in w for w in result.warnings)


async def _prefix_counters(url: str) -> tuple[float, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    values = {
        name: float(value)
        for name, value in re.findall(r"^(vllm:prefix_cache_\w+)\{[^}]*\} (\S+)$", text, re.MULTILINE)
    }
    return values["vllm:prefix_cache_queries_total"], values["vllm:prefix_cache_hits_total"]


async def test_multi_turn_prompts_grow_and_hit_the_prefix_cache(
    start_mock: StartMock, tmp_path: Path
) -> None:
    _, url = await start_mock(prefix_cache=True)
    path, _ = _dataset(tmp_path, conversations=8, turns=4)
    config = small_config(
        url,
        api="chat",
        levels=[1],  # one user: the requests come in conversation order
        requests_per_level=32,
        workload={"dataset_path": str(path), "dataset_output_tokens": True, "max_turns": 4},
    )
    assert await _prefix_counters(url) == (0.0, 0.0)
    result = await run(config)
    level = result.levels[0]
    assert (level.successes, level.token_mismatch_count) == (32, 0)
    raw = level.raw
    assert sorted(set(raw.turn)) == [0, 1, 2, 3]
    # Each user plays its conversations turn by turn: every later turn's prompt holds the earlier ones.
    by_turn: dict[int, list[int]] = {}
    for turn, prompt in zip(raw.turn, raw.input_tokens, strict=True):
        by_turn.setdefault(turn, []).append(prompt)
    means = [sum(v) / len(v) for _, v in sorted(by_turn.items())]
    assert means == sorted(means)
    assert means[3] > 2.5 * means[0]
    summary = level.summary()
    assert summary.ttft_by_turn is not None
    assert [s.count for s in summary.ttft_by_turn] == [len(by_turn[t]) for t in range(4)]
    queries, hits = await _prefix_counters(url)
    assert queries == sum(raw.input_tokens)  # every prompt token was looked up
    # A later turn hits every full 16-token block of the turn before it (the whole earlier prompt is its
    # head); a conversation played again hits more.
    earlier = [raw.input_tokens[i - 1] // 16 * 16 for i, t in enumerate(raw.turn) if t > 0]
    assert len(earlier) == 24
    assert hits >= sum(earlier) > 0.4 * queries


async def test_single_turn_dataset_requests_barely_hit_the_prefix_cache(
    start_mock: StartMock, tmp_path: Path
) -> None:
    """The control for the test above: without turns, prompts share no prefix beyond repeats."""
    _, url = await start_mock(prefix_cache=True)
    path, _ = _dataset(tmp_path, conversations=40, turns=1)
    config = small_config(
        url, api="chat", requests_per_level=12, seed=1, workload={"dataset_path": str(path)}
    )
    result = await run(config)
    queries, hits = await _prefix_counters(url)
    assert queries == sum(result.levels[0].raw.input_tokens)
    repeats = 12 - len(set(result.levels[0].raw.input_tokens))
    assert hits <= repeats * 64


def test_output_draws_repeat_for_a_seed() -> None:
    spec = OutputTokens(distribution="normal", mean=100, stddev=30)
    a = [sample_output_tokens(spec, random.Random(5)) for _ in range(3)]
    assert a == [sample_output_tokens(spec, random.Random(5)) for _ in range(3)]
