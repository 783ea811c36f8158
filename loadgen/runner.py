"""Runs a config: discover the model, calibrate, warm up, then each load level.

Everything here is orchestration; timing lives in client.py, arithmetic in
recorder.py and result.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from time import perf_counter

import aiohttp

from loadgen.answers import count_answers
from loadgen.arrivals import arrival_offsets, constant_phase
from loadgen.client import Outcome, Target, get_json, make_session, post_json, send
from loadgen.config import DEFAULT_MAX_IN_FLIGHT, RunConfig, shard_seed, split_evenly
from loadgen.histogram import LogHistogram
from loadgen.live import WindowListener, WindowTracker
from loadgen.progress import NullReporter, ProgressReporter
from loadgen.recorder import LevelRecorder
from loadgen.result import LevelRaw, LevelResult, RunResult, build_level
from loadgen.stats import percentile
from loadgen.workload import (
    Conversation,
    Planned,
    PromptSource,
    TokenFit,
    answered,
    fit_line,
    load_conversations,
)

log = logging.getLogger("loadgen")

LOOP_PROBE_INTERVAL_S = 0.01
PROGRESS_INTERVAL_S = 1.0
CALIBRATION_WORDS = (64, 512)

# Called before each level; worker processes and shards (loadgen.barrier) use it to start levels together.
# What it returns, if anything, is a warning kept in the run's result.
LevelGate = Callable[[int], Awaitable[str | None]]


class _Clock:
    """Maps perf_counter readings to unix time through one anchor taken at start."""

    def __init__(self) -> None:
        self._perf = perf_counter()
        self._unix = time.time()

    def unix(self, perf: float) -> float:
        return self._unix + (perf - self._perf)


async def run(
    config: RunConfig, reporter: ProgressReporter | None = None, level_gate: LevelGate | None = None
) -> RunResult:
    reporter = reporter or NullReporter()
    rng = random.Random(shard_seed(config.seed, config.shard_index, config.shard_count))
    warnings: list[str] = []
    calibration: str | None = None
    async with make_session(config.request_timeout_seconds) as session:
        api_key = config.resolve_api_key()
        target = _target(config, api_key, config.workload.largest_output_tokens())
        model = config.model or await discover_model(session, config.base_url, target.headers)
        dataset, dataset_warnings = await _dataset(session, config, model, target.headers)
        warnings += dataset_warnings
        if dataset is not None and config.workload.dataset_output_tokens:
            # The response limits follow the longest answer any request asks for.
            longest = max(turn.answer_tokens for conversation in dataset for turn in conversation)
            target = _target(config, api_key, longest)
        source = PromptSource(config, model, rng, dataset=dataset)
        if dataset is None and config.workload.calibrate:
            fit = await calibrate_with_tokenize(session, config, model, target, source)
            if fit is None:
                fit = await warmup(session, config, target, source, calibrate=True)
            else:
                await warmup(session, config, target, source, calibrate=False)
            if fit is None:
                warnings.append(
                    "prompt lengths are not calibrated: the server has no /tokenize and the warmup "
                    "was too short to fit (set warmup_requests >= 2)"
                )
            else:
                source = PromptSource(config, model, rng, fit=fit, dataset=dataset, text=source.text)
                calibration = f"{fit.source}: {fit.slope:.4f} tokens per word + {fit.intercept:.1f}"
        else:
            await warmup(session, config, target, source, calibrate=False)
        clock = _Clock()
        levels = []
        for index, level in enumerate(config.levels):
            if level_gate is not None and (warning := await level_gate(index)):
                warnings.append(warning)
            result = await run_level(session, config, target, source, index, level, clock, reporter, rng)
            levels.append(result)
            reporter.on_level_end(result)
            if result.client_saturated:
                log.warning("level %d client-saturated: %s", index, "; ".join(result.saturation_reasons))
    run_result = RunResult(
        model=model, config=config.dump_public(), levels=levels, calibration=calibration, warnings=warnings
    )
    reporter.on_finished(run_result)
    return run_result


def _target(config: RunConfig, api_key: str | None, max_tokens: int) -> Target:
    return Target(config.base_url, config.api, api_key, config.stream, config.response_limits, max_tokens)


async def _dataset(
    session: aiohttp.ClientSession, config: RunConfig, model: str, headers: dict[str, str]
) -> tuple[list[Conversation] | None, list[str]]:
    """The dataset's conversations (with their answers' lengths when requests ask for those)."""
    path = config.workload.dataset_path
    if path is None:
        return None, []
    conversations = load_conversations(path)
    if not config.workload.dataset_output_tokens:
        return conversations, []
    return await count_answers(session, config.base_url, headers, model, answered(conversations, path))


async def discover_model(session: aiohttp.ClientSession, base_url: str, headers: dict[str, str]) -> str:
    data = await get_json(session, f"{base_url}/v1/models", headers)
    models = data.get("data") if isinstance(data, dict) else None
    if not models:
        raise RuntimeError(f"{base_url}/v1/models lists no model; set `model` in the run config")
    return str(models[0]["id"])


async def calibrate_with_tokenize(
    session: aiohttp.ClientSession, config: RunConfig, model: str, target: Target, source: PromptSource
) -> TokenFit | None:
    """Fit prompt words to server tokens with vLLM's /tokenize; None when it is absent."""
    points = []
    for words in CALIBRATION_WORDS:
        text = source.calibration_text(words)
        payload: dict[str, object] = {"model": model}
        if config.api == "chat":
            payload["messages"] = [{"role": "user", "content": text}]
        else:
            payload["prompt"] = text
        try:
            status, data = await post_json(session, f"{config.base_url}/tokenize", target.headers, payload)
        except (aiohttp.ClientError, TimeoutError, ValueError):  # ValueError: an answer that is not JSON
            return None
        count = data.get("count") if status == 200 and isinstance(data, dict) else None
        if type(count) is not int:
            return None
        points.append((words, count))
    slope, intercept = fit_line(points)
    return TokenFit(slope, intercept, "/tokenize")


async def warmup(
    session: aiohttp.ClientSession, config: RunConfig, target: Target, source: PromptSource, calibrate: bool
) -> TokenFit | None:
    """Send this shard's warmup requests (not counted); optionally fit prompt length from usage."""
    count = split_evenly(config.warmup_requests, config.shard_index, config.shard_count)
    if count == 0:
        return None
    points: list[tuple[int, int]] = []
    # As many at once as the first level has users, so that level starts on open connections.
    first_share = split_evenly(config.levels[0], config.shard_index, config.shard_count)
    limit = asyncio.Semaphore(max(8, first_share) if config.load_mode == "concurrency" else 8)

    async def one(i: int) -> None:
        async with limit:
            if calibrate:
                words = CALIBRATION_WORDS[i % 2]
                body = source.body(source.calibration_text(words))
            else:
                words = 0
                body = source.next_request().body
            out = await send(session, target, body)
            if out.error is None and words and out.usage_prompt_tokens > 0:
                points.append((words, out.usage_prompt_tokens))

    await asyncio.gather(*(one(i) for i in range(count)))
    if calibrate and len({w for w, _ in points}) >= 2:
        slope, intercept = fit_line(points)
        return TokenFit(slope, intercept, "warmup usage.prompt_tokens")
    return None


class _LoopLagProbe:
    """How late the event loop runs a timer: the delay any arriving byte may wait before it is read.

    Lateness includes asyncio's rounding of poll timeouts up to whole
    milliseconds, so an idle loop reads 0-1 ms.
    """

    def __init__(self) -> None:
        self.hist = LogHistogram()
        self._handle: asyncio.TimerHandle | None = None

    def _fire(self, due: float) -> None:
        # perf_counter, not loop.time(): uvloop's loop.time() is cached per iteration in ms.
        now = perf_counter()
        self.hist.add(max(0.0, now - due))
        self._arm()

    def _arm(self) -> None:
        due = perf_counter() + LOOP_PROBE_INTERVAL_S
        self._handle = asyncio.get_running_loop().call_later(LOOP_PROBE_INTERVAL_S, self._fire, due)

    def __enter__(self) -> _LoopLagProbe:
        self._arm()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def _report_progress(
    reporter: ProgressReporter, recorder: LevelRecorder, total: int | None, index: int
) -> None:
    window = (
        WindowTracker(index, time.time(), recorder.streamed) if isinstance(reporter, WindowListener) else None
    )
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_S)
        reporter.on_progress(recorder.requests, total, index)
        if window is not None and isinstance(reporter, WindowListener):
            reporter.on_window(window.tick(time.time(), recorder.raw, recorder.requests))


async def run_level(
    session: aiohttp.ClientSession,
    config: RunConfig,
    target: Target,
    source: PromptSource,
    index: int,
    level: int,
    clock: _Clock,
    reporter: ProgressReporter,
    rng: random.Random,
) -> LevelResult:
    share = split_evenly(level, config.shard_index, config.shard_count)
    count = (
        split_evenly(config.requests_per_level, config.shard_index, config.shard_count)
        if config.requests_per_level is not None
        else None
    )
    recorder = LevelRecorder(streamed=config.stream)
    probe = _LoopLagProbe()
    reporter.on_level_start(index, share, count)
    start = perf_counter()
    reasons: list[str] = []
    if share > 0 and count != 0:
        ticker = asyncio.create_task(_report_progress(reporter, recorder, count, index))
        try:
            with probe:
                if config.load_mode == "concurrency":
                    await _closed_loop(session, config, target, source, recorder, share, count, start)
                else:
                    reasons = await _open_loop(
                        session, config, target, source, recorder, share, level, count, start, rng
                    )
        finally:
            ticker.cancel()
        reporter.on_progress(recorder.requests, count, index)
    end = max(recorder.last_end, start)
    return build_level(
        index=index,
        load_mode=config.load_mode,
        offered_load=share,
        streamed=config.stream,
        start=clock.unix(start),
        end=clock.unix(end),
        requests=recorder.requests,
        errors=recorder.errors,
        raw=recorder.raw if recorder.requests else LevelRaw(),
        itl=recorder.itl,
        loop_lag=probe.hist,
        token_mismatch_count=recorder.token_mismatch,
        usage_missing_count=recorder.usage_missing,
        slo=config.slo,
        thresholds=config.saturation,
        saturated_before=reasons,
        busy_seconds=recorder.busy_seconds,
    )


def _deadline(config: RunConfig, start: float) -> float:
    return start + config.level_duration_seconds if config.level_duration_seconds else math.inf


async def _closed_loop(
    session: aiohttp.ClientSession,
    config: RunConfig,
    target: Target,
    source: PromptSource,
    recorder: LevelRecorder,
    users: int,
    count: int | None,
    start: float,
) -> None:
    """`users` concurrent users, each sending its next request when the last one finishes."""
    deadline = _deadline(config, start)
    tickets = count if count is not None else math.inf
    issued = 0

    ramp = config.ramp_up_seconds

    async def user(index: int) -> None:
        nonlocal issued
        if ramp:
            # Staggered starts keep users from moving in lock-step for the whole level.
            await asyncio.sleep(ramp * index / users)
        requests = source.requests()  # this user's own: a conversation's turns follow one another
        while issued < tickets and perf_counter() < deadline:
            issued += 1
            planned = next(requests)
            out: Outcome = await send(session, target, planned.body)
            recorder.record(out, out.sent, planned.input_tokens, _pinned(config, planned), planned.turn)

    await asyncio.gather(*(user(i) for i in range(users)))


def _pinned(config: RunConfig, planned: Planned) -> int:
    """The answer length a request was pinned to, which its answer must have (0: not pinned)."""
    return planned.output_tokens if config.workload.pin_output_length else 0


def in_flight_cap(config: RunConfig) -> int:
    """Rate mode: this process's cap on outstanding requests (its share of max_in_flight, or the default)."""
    if config.max_in_flight is None:
        return DEFAULT_MAX_IN_FLIGHT
    return max(1, split_evenly(config.max_in_flight, config.shard_index, config.shard_count))


async def _open_loop(
    session: aiohttp.ClientSession,
    config: RunConfig,
    target: Target,
    source: PromptSource,
    recorder: LevelRecorder,
    rate: int,
    total_rate: int,
    count: int | None,
    start: float,
    rng: random.Random,
) -> list[str]:
    """Send at scheduled times regardless of responses; record how late each send was.

    At most `in_flight_cap` requests are out at once, so a server that stops answering cannot make
    the arrivals pile up tasks and sockets without end. Returns the level's client-saturation reason
    when that cap held sends back (a send waiting for it is late by as much).
    """
    duration = config.level_duration_seconds or math.inf
    limit = in_flight_cap(config)
    cap = asyncio.Semaphore(limit)
    tasks: set[asyncio.Task[None]] = set()
    late: list[float] = []  # how late past its schedule each send that found the cap full went out

    async def one(scheduled: float) -> None:
        try:
            planned = source.next_request()
            out = await send(session, target, planned.body)
            recorder.record(out, scheduled, planned.input_tokens, _pinned(config, planned))
        finally:
            cap.release()

    phase = constant_phase(config.shard_index, config.shard_count, total_rate)
    sent = 0
    for offset in arrival_offsets(config.arrival, rate, rng, phase):
        if (count is not None and sent >= count) or offset >= duration:
            break
        scheduled = start + offset
        delay = scheduled - perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if cap.locked():
            # Waiting here makes the send late; that lateness is recorded, not hidden.
            await cap.acquire()
            now = perf_counter()
            if now - start >= duration:
                cap.release()
                break  # the level's time ran out while it waited: nothing is sent after the level's end
            # From its schedule, not from the wait's start: sends queued behind the cap are late by the
            # whole backlog, though each waits only for the next free slot.
            late.append(max(0.0, now - scheduled))
        else:
            await cap.acquire()
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    if tasks:
        await asyncio.gather(*tasks)
    return cap_reasons(limit, late, sent, config.saturation.schedule_lag_p99_ms)


def cap_reasons(limit: int, lateness: list[float], sends: int, threshold_ms: float) -> list[str]:
    """A saturation reason when the in-flight cap made the level's sends late: the p99 over all `sends`
    (0 for those that found a free slot) of `lateness`, the seconds past its schedule each send held
    at the cap went out, is above `threshold_ms`.

    The schedule lag of successful requests shows the same delay; this also counts the requests that
    failed (a stalled server times every one of them out).
    """
    if not lateness:
        return []
    p99_ms = percentile([0.0] * (sends - len(lateness)) + sorted(lateness), 99) * 1e3
    if p99_ms <= threshold_ms:
        return []
    return [
        f"in-flight cap {limit} reached: {len(lateness)} of {sends} sends waited for a slot "
        f"(p99 lateness {p99_ms:.1f} ms > {threshold_ms:g} ms)"
    ]
