"""The mock's continuous-batching engine on a simulated clock (nothing sleeps), and its closed form."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockservers.latency import (
    BatchingEngine,
    BatchingLatency,
    Sequence,
    batching_knee,
    batching_tpot_ms,
    batching_ttft_ms,
    simulate_closed_loop,
)

MS = 1e-3
MODEL = BatchingLatency(step_base_s=10 * MS, step_per_seq_s=2 * MS, prefill_per_token_s=0.1 * MS)


def test_a_step_costs_base_plus_per_seq_plus_the_admitted_prefill() -> None:
    engine: BatchingEngine[Sequence] = BatchingEngine(MODEL)
    a, b = Sequence(100, 3), Sequence(50, 3)
    engine.submit(a)
    engine.submit(b)
    step = engine.begin_step(0.0)
    assert step is not None
    assert (step.admitted, step.running, step.prefill_tokens) == (2, 2, 150)
    assert step.duration == pytest.approx((10 + 2 * 2 + 0.1 * 150) * MS)
    emitted, finished = engine.end_step(step.duration)
    assert emitted == [a, b]
    assert finished == []
    # The admitting step yields the first token; the next steps are decode only.
    assert a.first_token_at == pytest.approx(29 * MS)
    step = engine.begin_step(29 * MS)
    assert step is not None
    assert step.admitted == 0
    assert step.duration == pytest.approx(14 * MS)


def test_a_request_leaves_at_the_end_of_the_step_with_its_last_token() -> None:
    engine: BatchingEngine[Sequence] = BatchingEngine(BatchingLatency(10 * MS, 1 * MS))
    seq = Sequence(8, 3)
    engine.submit(seq)
    now = 0.0
    for _ in range(3):
        step = engine.begin_step(now)
        assert step is not None
        now += step.duration
        engine.end_step(now)
    assert seq.done
    assert seq.emitted == 3
    assert seq.finished_at == pytest.approx(33 * MS)
    assert engine.idle
    assert engine.kv_tokens == 0
    assert engine.begin_step(now) is None


def test_admission_is_fifo_at_step_boundaries_up_to_max_running() -> None:
    engine: BatchingEngine[Sequence] = BatchingEngine(BatchingLatency(10 * MS, 0.0), max_running=2)
    seqs = [Sequence(1, 2 if i == 0 else 5) for i in range(4)]
    for seq in seqs[:3]:
        engine.submit(seq)
    step = engine.begin_step(0.0)
    assert step is not None
    assert engine.running == seqs[:2]
    assert list(engine.waiting) == [seqs[2]]
    engine.submit(seqs[3])  # arrives mid-step: waits for a boundary and behind the earlier one
    engine.end_step(0.01)
    engine.begin_step(0.01)
    assert engine.running == seqs[:2]  # still full
    _, finished = engine.end_step(0.02)
    assert finished == [seqs[0]]
    step = engine.begin_step(0.02)
    assert step is not None
    assert step.admitted == 1
    assert engine.running == [seqs[1], seqs[2]]
    assert seqs[2].admitted_at == pytest.approx(0.02)
    assert list(engine.waiting) == [seqs[3]]


def test_abort_removes_a_request_wherever_it_is() -> None:
    engine: BatchingEngine[Sequence] = BatchingEngine(MODEL, max_running=1)
    running, waiting = Sequence(10, 5), Sequence(20, 5)
    engine.submit(running)
    engine.submit(waiting)
    engine.begin_step(0.0)
    engine.end_step(0.1)
    assert engine.kv_tokens == 11
    assert engine.abort(waiting)
    assert engine.abort(running)
    assert not engine.abort(running)
    assert engine.idle
    assert engine.kv_tokens == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["submit", "step", "abort"]), st.integers(0, 40), st.integers(1, 6)),
        max_size=60,
    ),
    st.integers(0, 4),
)
def test_state_stays_consistent_under_any_interleaving(
    ops: list[tuple[str, int, int]], max_running: int
) -> None:
    engine: BatchingEngine[Sequence] = BatchingEngine(MODEL, max_running)
    live: list[Sequence] = []
    now = 0.0
    for op, a, b in ops:
        if op == "submit":
            seq = Sequence(a, b, now)
            live.append(seq)
            engine.submit(seq)
        elif op == "abort" and live:
            engine.abort(live.pop(a % len(live)))
        else:
            step = engine.begin_step(now)
            # Work-conserving: after admission, a request waits only while the batch is full.
            assert not engine.waiting or len(engine.running) == max_running
            if step is not None:
                assert step.duration == pytest.approx(MODEL.step_seconds(step.running, step.prefill_tokens))
                now += step.duration
                for seq in engine.end_step(now)[1]:
                    live.remove(seq)
        # What /metrics reports is the engine's state, whatever happened.
        assert engine.kv_tokens == sum(s.kv_tokens for s in engine.running)
        assert max_running == 0 or len(engine.running) <= max_running
        assert len(engine.running) + len(engine.waiting) == len(live)
        assert all(s.emitted < s.max_tokens for s in engine.running)


@pytest.mark.parametrize("users", [1, 4, 8, 16])
def test_closed_loop_tpot_is_base_plus_per_seq_times_users(users: int) -> None:
    model = BatchingLatency(10 * MS, 2 * MS)
    done = simulate_closed_loop(model, 0, users, 32, 64, 6, round_trip_s=1 * MS, stagger_s=0.3 * MS)
    assert len(done) == users * 6
    tpot_ms = statistics.fmean(r.tpot for r in done) / MS
    assert tpot_ms == pytest.approx(batching_tpot_ms(10, 2, users), rel=0.04)
    # TTFT: the rest of the step under way when it arrived, then its own (admitting) step.
    assert statistics.fmean(r.ttft for r in done) / MS <= 2 * batching_tpot_ms(10, 2, users) + 1


def test_prefill_lengthens_ttft_and_other_users_prefills_show_in_tpot() -> None:
    model = BatchingLatency(10 * MS, 2 * MS, 0.1 * MS)
    done = simulate_closed_loop(model, 0, 8, 200, 32, 6, round_trip_s=1 * MS, stagger_s=0.3 * MS)
    tpot_ms = statistics.fmean(r.tpot for r in done) / MS
    upper = batching_tpot_ms(10, 2, 8, prompt_tokens=200, output_tokens=32, prefill_ms_per_token=0.1)
    assert batching_tpot_ms(10, 2, 8) < tpot_ms <= upper * 1.02
    assert min(r.ttft for r in done) / MS >= 10 + 0.1 * 200


def test_beyond_max_running_tpot_stops_growing_and_requests_queue() -> None:
    model = BatchingLatency(10 * MS, 2 * MS)
    at_cap = simulate_closed_loop(model, 4, 4, 16, 32, 6)
    beyond = simulate_closed_loop(model, 4, 8, 16, 32, 6)
    step_ms = batching_tpot_ms(10, 2, 8, max_running=4)
    assert step_ms == 18
    assert statistics.fmean(r.tpot for r in beyond) / MS == pytest.approx(step_ms, rel=0.02)
    # A queued request waits about (C - M) / M of a request's duration (N steps) for a slot.
    queue_wait_ms = (8 - 4) / 4 * 32 * step_ms
    ttft_beyond = statistics.median(r.ttft for r in beyond) / MS
    assert ttft_beyond == pytest.approx(queue_wait_ms, rel=0.15)
    assert ttft_beyond > 10 * statistics.median(r.ttft for r in at_cap) / MS
    assert ttft_beyond == pytest.approx(batching_ttft_ms(10, 2, 8, 4, output_tokens=32), rel=0.15)
    ttft_at_cap = statistics.median(r.ttft for r in at_cap) / MS
    assert ttft_at_cap == pytest.approx(batching_ttft_ms(10, 2, 4, 4, output_tokens=32), rel=0.4)


@pytest.mark.parametrize(
    ("base", "per_seq", "max_running", "slo", "knee"),
    [
        (10, 2, 0, 30, 10),
        (10, 2, 0, 31.9, 10),
        (10, 2, 8, 50, 8),  # capped: beyond max_running requests queue
        (10, 2, 64, 50, 20),
        (0.1, 0.1, 0, 0.3, 2),  # exact at the SLO counts as inside, float noise or not
        (10, 2, 0, 11, 0),  # even one user misses
    ],
)
def test_batching_knee_table(base: float, per_seq: float, max_running: int, slo: float, knee: int) -> None:
    assert batching_knee(base, per_seq, max_running, slo) == knee


def test_batching_knee_with_prefill_interference() -> None:
    # 10 + 2 C + 0.1 * 200 * (C - 1) / 32 <= 40: 38.25 ms at C = 11, 40.875 ms at 12.
    prefill = {"prompt_tokens": 200, "output_tokens": 32, "prefill_ms_per_token": 0.1}
    assert batching_knee(10, 2, 0, 40, **prefill) == 11  # type: ignore[arg-type]
    assert batching_knee(10, 2, 0, 40) == 15  # without prefill
    assert batching_tpot_ms(10, 2, 11, **prefill) == pytest.approx(38.25)  # type: ignore[arg-type]
    assert batching_tpot_ms(10, 2, 12, **prefill) == pytest.approx(40.875)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(st.floats(2, 20), st.floats(0.5, 4), st.integers(1, 12))
def test_the_simulated_server_holds_the_slo_up_to_the_knee_and_not_beyond(
    base: float, per_seq: float, true_knee: int
) -> None:
    slo = base + per_seq * (true_knee + 0.5)  # half a step of margin either side
    assert batching_knee(base, per_seq, 0, slo) == true_knee
    model = BatchingLatency(base * MS, per_seq * MS)
    output = 2 * true_knee + 4  # long enough that users' gaps between requests cannot blur the knee
    inside = simulate_closed_loop(model, 0, true_knee, 16, output, 3, stagger_s=0.2 * MS)
    outside = simulate_closed_loop(model, 0, true_knee + 1, 16, output, 3, stagger_s=0.2 * MS)
    assert max(r.tpot for r in inside) / MS <= slo
    assert min(r.tpot for r in outside) / MS > slo
