"""The shard's half of the start barrier: it says it is ready, waits for its signal, starts at `at` by its
own clock, and refuses to wait forever or to start on a clock that is far off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from loadgen.barrier import READY_KEY, BarrierError, StartBarrier, start_key

T0 = 1_800_000_000.0


class FakeConfigMap:
    """The shard's result ConfigMap; `operator(reads, data)` may add keys on each read, as the operator would."""

    def __init__(self, operator: Callable[[int, dict[str, str]], object] | None = None) -> None:
        self.data: dict[str, str] = {}
        self.reads = 0
        self.operator = operator

    def read(self) -> dict[str, str]:
        self.reads += 1
        if self.operator is not None:
            self.operator(self.reads, self.data)
        return dict(self.data)

    def patch(self, data: dict[str, str]) -> None:
        self.data.update(data)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def signal(level: int, at: float, written: float) -> str:
    return json.dumps({"level": level, "at": at, "written": written})


def barrier(cm: FakeConfigMap, clock: FakeClock, **kw: float) -> StartBarrier:
    return StartBarrier(cm, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_the_shard_says_it_is_ready_then_starts_at_the_signal_time() -> None:
    clock = FakeClock()

    def operator(reads: int, data: dict[str, str]) -> None:
        if reads == 3:  # the operator's tick comes round after two polls
            assert json.loads(data[READY_KEY]) == {"level": 2, "since": T0}
            data[start_key(2)] = signal(2, at=clock.now + 1.0, written=clock.now)

    cm = FakeConfigMap(operator)
    gate = barrier(cm, clock)
    assert asyncio.run(gate(2)) is None
    assert clock.now == pytest.approx(T0 + 0.5 + 1.0)  # two polls of 0.25 s, then the lead
    (start,) = gate.starts
    assert start.level == 2
    assert start.late_seconds == 0.0
    assert start.signal_delay_seconds == pytest.approx(0.0)
    assert start.waited_seconds == pytest.approx(1.5)


def test_no_signal_within_the_timeout_is_an_error_not_a_hang() -> None:
    clock = FakeClock()
    cm = FakeConfigMap()
    with pytest.raises(BarrierError, match="no start signal for level 0 within 5 s"):
        asyncio.run(barrier(cm, clock, timeout_seconds=5)(0))
    assert clock.now - T0 == pytest.approx(5.0)
    assert cm.reads == 21  # bounded polling: every 0.25 s


def test_a_clock_behind_the_operators_is_caught() -> None:
    clock = FakeClock()
    cm = FakeConfigMap(lambda n, d: d.setdefault(start_key(0), signal(0, at=T0 + 3.5, written=T0 + 2.5)))
    with pytest.raises(BarrierError, match=r"at least 2\.50 s behind the operator's"):
        asyncio.run(barrier(cm, clock)(0))


def test_a_clock_ahead_of_the_operators_is_caught() -> None:
    clock = FakeClock()
    cm = FakeConfigMap(lambda n, d: d.setdefault(start_key(0), signal(0, at=T0 - 2.5, written=T0 - 3.5)))
    with pytest.raises(BarrierError, match=r"arrived 2\.50 s after its start time, more than its lead"):
        asyncio.run(barrier(cm, clock)(0))


def test_a_small_offset_is_tolerated_and_measured() -> None:
    clock = FakeClock()
    cm = FakeConfigMap(lambda n, d: d.setdefault(start_key(0), signal(0, at=T0 + 1.3, written=T0 + 0.3)))
    gate = barrier(cm, clock)
    asyncio.run(gate(0))
    assert gate.starts[0].signal_delay_seconds == pytest.approx(-0.3)  # this clock is >= 0.3 s behind
    assert clock.now == pytest.approx(T0 + 1.3)


def test_a_signal_written_late_starts_at_once_with_a_warning() -> None:
    # The operator restarted between two shards' writes: this shard's copy came after the start time.
    clock = FakeClock()
    cm = FakeConfigMap(lambda n, d: d.setdefault(start_key(1), signal(1, at=T0 - 0.8, written=T0 - 0.1)))
    gate = barrier(cm, clock)
    warning = asyncio.run(gate(1))
    assert warning is not None
    assert "level 1 started 0.80 s after the other shards" in warning
    assert clock.slept == []


def test_a_mangled_signal_is_an_error() -> None:
    clock = FakeClock()
    cm = FakeConfigMap(lambda n, d: d.setdefault(start_key(0), '{"level": 0}'))
    with pytest.raises(BarrierError, match="start signal for level 0 is not one"):
        asyncio.run(barrier(cm, clock)(0))
    cm = FakeConfigMap(lambda n, d: d.setdefault(start_key(0), signal(3, T0, T0)))
    with pytest.raises(BarrierError, match="is for level 3"):
        asyncio.run(barrier(cm, clock)(0))
