"""Prompt calibration, open-loop rate, the in-flight cap, queueing at capacity, the reporter."""

import asyncio
import json
import statistics
from pathlib import Path

import aiohttp
import pytest

from loadgen.result import LevelResult, RunResult
from loadgen.runner import run

from .conftest import StartMock, small_config


@pytest.mark.parametrize("tokenize", [True, False])
async def test_prompts_hit_the_server_token_count(start_mock: StartMock, tokenize: bool) -> None:
    # The mock counts long words as two tokens, so uncalibrated prompts would miss.
    _, url = await start_mock(tokenize_endpoint=tokenize)
    config = small_config(
        url, api="chat", warmup_requests=4, workload={"input_tokens": {"mean": 300}, "output_tokens": 2}
    )
    result = await run(config)
    inputs = result.levels[0].raw.input_tokens
    assert statistics.fmean(inputs) == pytest.approx(300, rel=0.03)
    assert result.warnings == []
    assert result.calibration is not None
    assert result.calibration.startswith("/tokenize" if tokenize else "warmup")


async def test_without_tokenize_or_warmup_the_run_warns(start_mock: StartMock) -> None:
    _, url = await start_mock(tokenize_endpoint=False)
    result = await run(small_config(url))
    assert any("not calibrated" in w for w in result.warnings)


async def test_open_loop_sends_on_schedule_and_records_the_lag(start_mock: StartMock) -> None:
    _, url = await start_mock(ttft_ms=5)
    config = small_config(
        url,
        load_mode="rate",
        levels=[40],
        arrival="constant",
        requests_per_level=20,
        level_duration_seconds=5,
    )
    level = (await run(config)).levels[0]
    assert level.successes == 20
    lags = level.raw.schedule_lag_us
    assert statistics.median(lags) < 20_000
    # 20 constant arrivals at 40/s span 19 gaps of 25 ms.
    assert level.duration_seconds == pytest.approx(19 / 40, abs=0.2)
    summary = level.summary()
    assert summary.ttft_from_schedule is not None
    assert summary.ttft_from_schedule.count == 20


async def test_the_in_flight_cap_shows_up_as_schedule_lag(start_mock: StartMock) -> None:
    _, url = await start_mock(ttft_ms=200)
    config = small_config(
        url, load_mode="rate", levels=[100], arrival="constant", requests_per_level=6, max_in_flight=1
    )
    level = (await run(config)).levels[0]
    assert level.successes == 6
    # One at a time, 200+ ms each: the 6th is sent about a second after its 50 ms slot.
    assert max(level.raw.schedule_lag_us) > 800_000
    assert level.client_saturated  # the schedule could not be kept


async def test_capacity_limit_queues_requests_and_metrics_show_it(start_mock: StartMock) -> None:
    _, url = await start_mock(ttft_ms=50, max_running=2)
    seen_waiting = []

    async def watch() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                async with session.get(f"{url}/metrics") as resp:
                    text = await resp.text()
                line = next(ln for ln in text.splitlines() if ln.startswith("vllm:num_requests_waiting{"))
                seen_waiting.append(float(line.split()[-1]))
                await asyncio.sleep(0.02)

    result, _ = await asyncio.gather(run(small_config(url, levels=[8], requests_per_level=16)), watch())
    summary = result.levels[0].summary()
    assert max(seen_waiting) > 0
    assert summary.ttft.max is not None
    assert summary.ttft.max > 150  # queued behind earlier requests


async def test_ramp_up_starts_users_one_after_another(start_mock: StartMock) -> None:
    _, url = await start_mock(ttft_ms=200)
    config = small_config(url, levels=[4], requests_per_level=4, ramp_up_seconds=0.6)
    level = (await run(config)).levels[0]
    assert level.successes == 4
    # Users start at 0, 0.15, 0.3 and 0.45 s; the one starting at 0.3 s takes the last request and
    # finishes at 0.5 s. All four at once would be done at 0.2 s.
    assert level.duration_seconds >= 0.45


class RecordingReporter:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        self.events.append(("start", (level_index, offered_load, total)))

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        self.events.append(("progress", (completed, total)))

    def on_level_end(self, level: LevelResult) -> None:
        self.events.append(("end", level.index))

    def on_finished(self, result: RunResult) -> None:
        self.events.append(("finished", len(result.levels)))


async def test_the_reporter_hears_each_stage_about_once_a_second(start_mock: StartMock) -> None:
    _, url = await start_mock(itl_ms=50)
    reporter = RecordingReporter()
    await run(small_config(url, levels=[2], requests_per_level=12), reporter)  # 6 x 8 x 50 ms: about 2.4 s
    kinds = [k for k, _ in reporter.events]
    assert kinds[0] == "start"
    assert kinds[-2:] == ["end", "finished"]
    progress = [v for k, v in reporter.events if k == "progress"]
    assert progress[-1] == (12, 12)
    assert 2 <= len(progress) <= 5


async def test_sharegpt_prompts_are_sent_and_counted_by_the_server(
    start_mock: StartMock, tmp_path: Path
) -> None:
    _, url = await start_mock()
    dataset = tmp_path / "sharegpt.json"
    conversations = [
        {"conversations": [{"from": "human", "value": "tell me " + "more " * k}]} for k in (3, 30)
    ]
    dataset.write_text(json.dumps(conversations))
    config = small_config(url, workload={"dataset_path": str(dataset), "output_tokens": 4})
    result = await run(config)
    inputs = set(result.levels[0].raw.input_tokens)
    # Completions: 1 BOS token + "tell me" + k x "more", as the mock counts them.
    assert inputs <= {1 + 2 + 3, 1 + 2 + 30}
    assert len(inputs) == 2
    assert result.calibration is None
