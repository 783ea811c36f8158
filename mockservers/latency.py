"""Latency models for the mock OpenAI server: how long the first token and each next token take.

A model is a small pluggable piece. `FixedLatency` gives every request the same
TTFT and inter-token latency (with `max_running` as a plain capacity limit).
`BatchingLatency` is close to vLLM's continuous batching: one engine loop runs
steps; in each step every running sequence emits one token and the step lasts
`base + per_seq * running` (plus the prefill of the requests admitted in it).
`BatchingEngine` is that loop's state machine on an explicit clock (pure: no
sleeping), so tests and simulations drive it with simulated time and the
server drives it with the real one.

The closed form the capacity search relies on (docs/capacity.md, "The mock's
knee in closed form"): with C closed-loop users, C ≤ max_running, all in
decode, TPOT ≈ base + per_seq * C; so for `TPOT ≤ T` the knee is
floor((T - base) / per_seq), capped by max_running (`batching_knee`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class LatencyModel(Protocol):
    def first_token_delay(self, prompt_tokens: int, running: int) -> float:
        """Seconds from the start of running the request to its first token."""
        ...

    def inter_token_delay(self, running: int) -> float:
        """Seconds between two tokens of one request while `running` requests run."""
        ...


@dataclass(frozen=True)
class FixedLatency:
    ttft_s: float = 0.0
    itl_s: float = 0.0

    def first_token_delay(self, prompt_tokens: int, running: int) -> float:
        return self.ttft_s

    def inter_token_delay(self, running: int) -> float:
        return self.itl_s


@dataclass(frozen=True)
class BatchingLatency:
    """Continuous batching: a step costs `step_base_s + step_per_seq_s * running + prefill`.

    `prefill` is `prefill_per_token_s * prompt tokens` of the requests admitted
    in that step (their prefill lengthens the step that admits them, and that
    step also yields their first token). The mock server runs this model with
    one engine task (`BatchingEngine`); the two methods below are the same
    costs seen per request, for callers that only know `LatencyModel`.
    """

    step_base_s: float = 0.010
    step_per_seq_s: float = 0.0005
    prefill_per_token_s: float = 0.0

    def step_seconds(self, running: int, prefill_tokens: int = 0) -> float:
        return self.step_base_s + self.step_per_seq_s * running + self.prefill_per_token_s * prefill_tokens

    def first_token_delay(self, prompt_tokens: int, running: int) -> float:
        return self.step_seconds(running, prompt_tokens)

    def inter_token_delay(self, running: int) -> float:
        return self.step_seconds(running)


class Sequence:
    """One request inside the engine. Times are on the engine's clock (seconds)."""

    __slots__ = ("admitted_at", "arrival", "emitted", "finished_at", "first_token_at", "max_tokens",
                 "prompt_tokens")  # fmt: skip

    def __init__(self, prompt_tokens: int, max_tokens: int, arrival: float = 0.0) -> None:
        self.prompt_tokens = max(0, prompt_tokens)
        self.max_tokens = max(1, max_tokens)
        self.arrival = arrival
        self.emitted = 0
        self.admitted_at: float | None = None
        self.first_token_at: float | None = None
        self.finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def kv_tokens(self) -> int:
        """Tokens this sequence holds in the KV cache: its prompt and what it generated."""
        return self.prompt_tokens + self.emitted


@dataclass(frozen=True)
class Step:
    admitted: int  # requests admitted at this step's start (their prefill is in it)
    running: int  # sequences in the batch, the admitted included
    prefill_tokens: int
    duration: float


S = TypeVar("S", bound=Sequence)


class BatchingEngine(Generic[S]):
    """vLLM-style continuous batching on an explicit clock.

    One step: `begin_step(now)` admits waiting requests (FIFO) while fewer than
    `max_running` run (0: no limit) and returns the step's duration; the caller
    lets that time pass and calls `end_step(now)`, where every running sequence
    emits one token (an admitted one its first, after its prefill) and those
    that reached `max_tokens` leave. Requests submitted during a step wait for
    the next one. `abort` removes a request wherever it is (a client that left).
    """

    def __init__(self, model: BatchingLatency, max_running: int = 0) -> None:
        self.model = model
        self.max_running = max_running
        self.waiting: deque[S] = deque()
        self.running: list[S] = []
        self.kv_tokens = 0  # sum of running sequences' kv_tokens, kept incrementally
        self.steps = 0

    def submit(self, seq: S) -> None:
        self.waiting.append(seq)

    def abort(self, seq: S) -> bool:
        """Remove a request that is waiting or running; False when it is no longer here."""
        if seq in self.running:
            self.running.remove(seq)
            self.kv_tokens -= seq.kv_tokens
            return True
        try:
            self.waiting.remove(seq)
        except ValueError:
            return False
        return True

    @property
    def idle(self) -> bool:
        return not self.running and not self.waiting

    def begin_step(self, now: float) -> Step | None:
        """Admit what fits and return the step about to run; None when there is nothing to run."""
        admitted = prefill = 0
        while self.waiting and (self.max_running <= 0 or len(self.running) < self.max_running):
            seq = self.waiting.popleft()
            seq.admitted_at = now
            self.running.append(seq)
            self.kv_tokens += seq.kv_tokens
            admitted += 1
            prefill += seq.prompt_tokens
        if not self.running:
            return None
        running = len(self.running)
        return Step(admitted, running, prefill, self.model.step_seconds(running, prefill))

    def end_step(self, now: float) -> tuple[list[S], list[S]]:
        """Every running sequence emits a token at `now`; returns (those that emitted, those finished)."""
        emitted = self.running
        finished: list[S] = []
        still: list[S] = []
        for seq in emitted:
            seq.emitted += 1
            if seq.emitted == 1:
                seq.first_token_at = now
            if seq.emitted >= seq.max_tokens:
                seq.finished_at = now
                finished.append(seq)
            else:
                still.append(seq)
        self.kv_tokens += len(emitted) - sum(s.kv_tokens for s in finished)
        self.running = still
        self.steps += 1
        return emitted, finished


# ---- the closed form --------------------------------------------------------


def batching_tpot_ms(
    base_ms: float,
    per_seq_ms: float,
    concurrency: int,
    max_running: int = 0,
    *,
    prompt_tokens: int = 0,
    output_tokens: int = 0,
    prefill_ms_per_token: float = 0.0,
) -> float:
    """Steady-state TPOT of `concurrency` closed-loop users: base + per_seq * min(C, max_running).

    With `output_tokens` (N) and a prefill cost given, adds the other users'
    prefills that land in one request's decode steps when users are out of
    step: prefill_ms_per_token * prompt_tokens * (c - 1) / N (an upper estimate;
    users in lock-step prefill together and see none of it).
    """
    c = min(concurrency, max_running) if max_running > 0 else concurrency
    tpot = base_ms + per_seq_ms * c
    if output_tokens > 0 and prefill_ms_per_token > 0 and c > 1:
        tpot += prefill_ms_per_token * prompt_tokens * (c - 1) / output_tokens
    return tpot


def batching_ttft_ms(
    base_ms: float,
    per_seq_ms: float,
    concurrency: int,
    max_running: int = 0,
    *,
    prompt_tokens: int = 0,
    output_tokens: int = 0,
    prefill_ms_per_token: float = 0.0,
) -> float:
    """Typical TTFT of `concurrency` closed-loop users (the median, roughly).

    Half a step waiting for the next step boundary, then the admitting step
    (base + per_seq * c + prefill). Beyond `max_running` (M) a request also
    queues until a slot frees: (C - M) / M of a request's duration, which is
    `output_tokens` steps.
    """
    c = min(concurrency, max_running) if max_running > 0 else concurrency
    step = base_ms + per_seq_ms * c
    ttft = 1.5 * step + prefill_ms_per_token * prompt_tokens
    if max_running > 0 and concurrency > max_running:
        ttft += (concurrency - max_running) / max_running * output_tokens * step
    return ttft


def batching_knee(
    base_ms: float,
    per_seq_ms: float,
    max_running: int,
    tpot_slo_ms: float,
    *,
    prompt_tokens: int = 0,
    output_tokens: int = 0,
    prefill_ms_per_token: float = 0.0,
) -> int:
    """Highest concurrency whose TPOT (`batching_tpot_ms`) stays ≤ `tpot_slo_ms`; 0 if even 1 misses.

    Without the prefill term: floor((tpot_slo - base) / per_seq). Capped at
    `max_running` (when > 0): beyond it TPOT stops growing and requests queue
    instead, so the knee there is set by queueing (a TTFT SLO below about one
    request's duration, N * step / max_running); a TPOT-only SLO holds at every
    concurrency above it.
    """
    if per_seq_ms <= 0:
        raise ValueError("per_seq_ms must be > 0 for a knee to exist")
    eps = 1e-9  # (0.3 - 0.1) / 0.1 is 1.999...: count a level exactly at the SLO as inside it
    knee = max(0, math.floor((tpot_slo_ms - base_ms) / per_seq_ms + eps))

    def tpot(c: int) -> float:
        return batching_tpot_ms(base_ms, per_seq_ms, c, prompt_tokens=prompt_tokens,
                                output_tokens=output_tokens, prefill_ms_per_token=prefill_ms_per_token)  # fmt: skip

    while knee > 0 and tpot(knee) > tpot_slo_ms + eps:
        knee -= 1
    if max_running > 0:
        knee = min(knee, max_running)
    return knee


# ---- a closed-loop simulation on the simulated clock ------------------------


@dataclass(frozen=True)
class SimRequest:
    user: int
    arrival: float
    admitted_at: float
    first_token_at: float
    finished_at: float
    output_tokens: int

    @property
    def ttft(self) -> float:
        return self.first_token_at - self.arrival

    @property
    def tpot(self) -> float:
        n = self.output_tokens
        return (self.finished_at - self.first_token_at) / (n - 1) if n > 1 else 0.0


class _SimSeq(Sequence):
    __slots__ = ("user",)

    def __init__(self, user: int, prompt_tokens: int, max_tokens: int, arrival: float) -> None:
        super().__init__(prompt_tokens, max_tokens, arrival)
        self.user = user


def simulate_closed_loop(
    model: BatchingLatency,
    max_running: int,
    users: int,
    prompt_tokens: int,
    output_tokens: int,
    requests_per_user: int,
    round_trip_s: float = 0.001,
    stagger_s: float = 0.0,
) -> list[SimRequest]:
    """`users` closed-loop users against a `BatchingEngine`, in simulated time (nothing sleeps).

    Each user sends its next request `round_trip_s` after its last one
    finished; user i sends its first at i * stagger_s. Returns every request in
    order of completion.
    """
    engine: BatchingEngine[_SimSeq] = BatchingEngine(model, max_running)
    arrivals = [(i * stagger_s, i) for i in range(users)]
    heapq.heapify(arrivals)
    left = dict.fromkeys(range(users), requests_per_user)
    out: list[SimRequest] = []
    now = 0.0
    while arrivals or not engine.idle:
        while arrivals and arrivals[0][0] <= now:
            at, user = heapq.heappop(arrivals)
            left[user] -= 1
            engine.submit(_SimSeq(user, prompt_tokens, output_tokens, at))
        step = engine.begin_step(now)
        if step is None:
            now = arrivals[0][0]  # idle: the engine starts the moment a request arrives
            continue
        now += step.duration
        for seq in engine.end_step(now)[1]:
            assert seq.admitted_at is not None
            assert seq.first_token_at is not None
            out.append(SimRequest(seq.user, seq.arrival, seq.admitted_at, seq.first_token_at, now,
                                  seq.max_tokens))  # fmt: skip
            if left[seq.user] > 0:
                heapq.heappush(arrivals, (now + round_trip_s, seq.user))
    return out
