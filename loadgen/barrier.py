"""Shards start every level together: a barrier through the shard's own result ConfigMap.

Before each level a shard writes `barrierReady` = {"level": k, "since": unix} into its ConfigMap, then
polls the same ConfigMap (GET, every `poll_seconds`) for `barrierStart.<k>` = {"level": k, "at": unix,
"written": unix}, which the operator writes into every shard's ConfigMap once every running shard is
ready for level k (loadtest_operator/loadtest/barrier.py decides; the Role of a shard may only get and
patch its own ConfigMap, which is all this needs). The shard then sleeps until `at` by its own clock and
starts the level: shards on nodes whose clocks agree start within milliseconds of each other.

Clocks. `written` is the operator's clock when it decided; the shard notes its own clock when the signal
reached it (`got`). got - written = (shard clock - operator clock) + transit, with transit >= 0 (the
signal cannot arrive before it is written) and about one poll interval plus the API server's latency.
Hence a shard whose clock is behind the operator's by more than `max_offset_seconds` is caught for sure
(got - written < -max_offset), and one that is ahead shows up as a start time already past on arrival.
Either way the shard stops with an error saying so: its levels would not line up with the others'.
The assumption is NTP-synced nodes (docs/metrics.md#shards-start-together).

Nothing here waits without bound: no signal within `timeout_seconds` of being ready is an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("loadgen")

READY_KEY = "barrierReady"
START_KEY_PREFIX = "barrierStart."
DEFAULT_POLL_SECONDS = 0.25
DEFAULT_TIMEOUT_SECONDS = 600.0
MAX_CLOCK_OFFSET_SECONDS = 1.0


def start_key(level: int) -> str:
    return f"{START_KEY_PREFIX}{level}"


class ConfigMapIO(Protocol):
    """What the barrier needs of the shard's ConfigMap (loadgen.k8s_report.ConfigMapWriter)."""

    def read(self) -> dict[str, str]: ...

    def patch(self, data: dict[str, str]) -> None: ...


class BarrierError(RuntimeError):
    """The shard cannot start the level together with the others (no signal in time, a clock far off)."""


@dataclass(frozen=True)
class StartSignal:
    level: int
    at: float
    written: float

    @classmethod
    def parse(cls, text: str | None, level: int) -> StartSignal | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            signal = cls(int(data["level"]), float(data["at"]), float(data["written"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise BarrierError(f"start signal for level {level} is not one ({exc}): {text[:200]!r}") from exc
        if signal.level != level:
            raise BarrierError(f"start signal under {start_key(level)} is for level {signal.level}")
        return signal


@dataclass(frozen=True)
class LevelStart:
    """How one level's start went, as this shard saw it (logged, and checked against the bounds)."""

    level: int
    waited_seconds: float  # from writing ready to the level's start
    signal_delay_seconds: float  # got - written: clock offset plus transit
    late_seconds: float  # how far past `at` the level started by this shard's clock (0: on time)


@dataclass
class StartBarrier:
    """A loadgen LevelGate (runner.run(level_gate=...)) that waits for the operator's start signal."""

    config_map: ConfigMapIO
    poll_seconds: float = DEFAULT_POLL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_offset_seconds: float = MAX_CLOCK_OFFSET_SECONDS
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    starts: list[LevelStart] = field(default_factory=list)

    async def __call__(self, level: int) -> str | None:
        """Wait for level `level`'s start; a warning for the run's result when it started late."""
        loop = asyncio.get_running_loop()
        ready_at = self.clock()
        ready = json.dumps({"level": level, "since": ready_at})
        await loop.run_in_executor(None, self.config_map.patch, {READY_KEY: ready})
        deadline = ready_at + self.timeout_seconds
        while True:
            data = await loop.run_in_executor(None, self.config_map.read)
            got = self.clock()
            signal = StartSignal.parse(data.get(start_key(level)), level)
            if signal is not None:
                break
            if got >= deadline:
                raise BarrierError(
                    f"no start signal for level {level} within {self.timeout_seconds:g} s of being ready: "
                    "the other shards never got ready (the LoadTest's status says which) or the operator "
                    "is not running"
                )
            await self.sleep(min(self.poll_seconds, max(0.0, deadline - got)))
        self._check_clock(signal, got)
        wait = signal.at - self.clock()
        if wait > 0:
            await self.sleep(wait)
        started = self.clock()
        late = max(0.0, started - signal.at)
        entry = LevelStart(level, started - ready_at, got - signal.written, late)
        self.starts.append(entry)
        log.info("barrier: %s", json.dumps(entry.__dict__))
        if signal.written > signal.at:
            # The operator wrote this shard's signal after the level's start (it restarted between the
            # shards' writes): this shard starts late, and the merged level's overlap shows by how much.
            return (
                f"level {level} started {late:.2f} s after the other shards on this shard: its start "
                "signal was written late (the operator restarted while starting the level)"
            )
        return None

    def _check_clock(self, signal: StartSignal, got: float) -> None:
        delay = got - signal.written
        if delay < -self.max_offset_seconds:
            raise BarrierError(
                f"this node's clock is at least {-delay:.2f} s behind the operator's (the start signal for "
                f"level {signal.level} arrived before it was written, by this clock): shards cannot start "
                "together; sync the nodes' clocks (NTP, chrony)"
            )
        lead = signal.at - signal.written
        if lead > 0 and got - signal.at > lead:
            raise BarrierError(
                f"the start signal for level {signal.level} arrived {got - signal.at:.2f} s after its start "
                f"time, more than its lead of {lead:.2f} s: this node's clock is ahead of the operator's "
                "(sync the nodes' clocks: NTP, chrony) or the API server is very slow"
            )
