"""The operator's side of the shards' start barrier (pure): when every running shard is ready for a
level, write the level's start signal into every shard's result ConfigMap; when some are not ready for
too long, say which.

A shard ready for level k writes `barrierReady` = {"level": k, "since": unix} into its own result
ConfigMap and polls that ConfigMap for `barrierStart.<k>` (loadgen/barrier.py). A signal is
{"level": k, "at": unix, "written": unix}: `at` = the moment every shard starts level k, `lead` seconds
after the tick that decided, so that the slowest shard's poll sees it in time.

Stateless and idempotent: everything is read back from the ConfigMaps every tick. A signal once written
is never changed; a shard whose signal is missing while another shard has one (the operator died between
two writes) gets the same `at`, stamped with the moment of its own write so it knows it is late.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadgen.barrier import READY_KEY, START_KEY_PREFIX, start_key
from loadtest_operator.api import LevelResult
from loadtest_operator.loadtest.shards import ShardPhase, ShardState, shard_index

# Start a level this long after the tick that saw every shard ready: a shard polls every 0.25 s, and the
# writes to every shard's ConfigMap take some milliseconds each.
LEAD_SECONDS = 1.0
# A level whose shards all ran for less than this share of its window is flagged (ShardsAligned=False).
MIN_SHARD_OVERLAP = 0.9
# How long shards may wait for the others to get ready for a level before the run fails (pods are
# scheduled, images pulled, models discovered, warm-ups run: level 0 waits for the slowest of those).
BARRIER_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Signal:
    at: float
    written: float


@dataclass(frozen=True)
class ShardBarrier:
    """One running shard's barrier keys as read from its result ConfigMap."""

    index: int
    config_map: str
    ready_level: int | None = None  # the level it last said it is ready for
    ready_since: float | None = None  # unix seconds, by the shard's clock
    signals: Mapping[int, Signal] | None = None  # start signals already in its ConfigMap, by level

    def signalled(self, level: int) -> Signal | None:
        return (self.signals or {}).get(level)

    def waiting_for(self) -> int | None:
        """The level it waits to start: ready for it, and no signal for it yet."""
        level = self.ready_level
        return level if level is not None and self.signalled(level) is None else None


@dataclass(frozen=True)
class SignalWrite:
    config_map: str
    key: str
    value: str


@dataclass(frozen=True)
class NotReady:
    """Shards `waiting` have waited `waited_seconds` for `missing` to get ready for `level`."""

    level: int
    waiting: tuple[int, ...]
    missing: tuple[int, ...]
    waited_seconds: float


@dataclass(frozen=True)
class BarrierDecision:
    writes: tuple[SignalWrite, ...] = ()
    not_ready: NotReady | None = None  # past the timeout: the run fails


def read_barrier(config_map: Mapping[str, Any]) -> ShardBarrier | None:
    """A shard's barrier keys; None when the object is not a shard's result ConfigMap. Values a shard or
    an intruder mangled read as absent: a shard that never says it is ready times out, named."""
    index = shard_index(config_map)
    if index is None:
        return None
    data: Mapping[str, str] = config_map.get("data") or {}
    ready = _json(data.get(READY_KEY))
    level = ready.get("level")
    since = ready.get("since")
    signals: dict[int, Signal] = {}
    for key, text in data.items():
        suffix = key.removeprefix(START_KEY_PREFIX)
        if key == suffix or not suffix.isdigit():
            continue
        value = _json(text)
        at, written = _number(value.get("at")), _number(value.get("written"))
        if at is not None and written is not None:
            signals[int(suffix)] = Signal(at, written)
    return ShardBarrier(
        index=index,
        config_map=str(config_map["metadata"]["name"]),
        ready_level=level if type(level) is int and level >= 0 else None,
        ready_since=_number(since),
        signals=signals,
    )


def running_barriers(
    shards: Sequence[ShardState], result_config_maps: Sequence[Mapping[str, Any]]
) -> list[ShardBarrier]:
    """The barrier of every shard still running or starting (failed shards no longer hold the others
    back: minSucceededShards decides whether the run goes on without them)."""
    by_index = {b.index: b for cm in result_config_maps if (b := read_barrier(cm)) is not None}
    return [
        by_index.get(s.index) or ShardBarrier(s.index, "")
        for s in shards
        if s.phase in (ShardPhase.RUNNING, ShardPhase.PENDING)
    ]


def decide(
    shards: Sequence[ShardBarrier],
    now: float,
    *,
    lead_seconds: float = LEAD_SECONDS,
    timeout_seconds: float = BARRIER_TIMEOUT_SECONDS,
) -> BarrierDecision:
    """What to write for the running shards `shards` at `now` (unix seconds, the operator's clock)."""
    waiting = {s.index: level for s in shards if (level := s.waiting_for()) is not None}
    if not waiting:
        return BarrierDecision()
    writes: list[SignalWrite] = []
    for level in sorted(set(waiting.values())):
        here = [s for s in shards if waiting.get(s.index) == level]
        earlier = next((sig for s in shards if (sig := s.signalled(level)) is not None), None)
        if earlier is not None:
            # Another shard has this level's signal already: the same start, written now.
            writes += [_write(s, level, earlier.at, now) for s in here]
        elif len(here) == len(shards):
            writes += [_write(s, level, now + lead_seconds, now) for s in here]
    if writes:
        return BarrierDecision(writes=tuple(writes))
    level = min(waiting.values())
    here = [s for s in shards if waiting.get(s.index) == level]
    since = min((s.ready_since for s in here if s.ready_since is not None), default=now)
    waited = now - since
    if waited <= timeout_seconds:
        return BarrierDecision()
    missing = tuple(s.index for s in shards if s not in here)
    return BarrierDecision(not_ready=NotReady(level, tuple(s.index for s in here), missing, round(waited, 1)))


def not_ready_message(
    not_ready: NotReady, shards: Sequence[ShardState], barriers: Sequence[ShardBarrier]
) -> str:
    by_index = {b.index: b for b in barriers}
    doing = []
    for shard in shards:
        if shard.index not in not_ready.missing:
            continue
        barrier = by_index.get(shard.index)
        if shard.phase is ShardPhase.PENDING:
            what = "its pod is not running yet"
        elif barrier is None or barrier.ready_level is None:
            what = "still starting (model discovery, calibration, warm-up)"
        else:
            what = f"still running level {barrier.ready_level}"
        doing.append(f"shard {shard.index}: {what}")
    return (
        f"shard(s) {_list(not_ready.missing)} not ready to start level {not_ready.level} after shard(s) "
        f"{_list(not_ready.waiting)} waited {not_ready.waited_seconds:g} s for them ({'; '.join(doing)}); "
        "the shards start every level together, so the run cannot go on (see the shards' pods and logs)"
    )


def alignment(levels: Sequence[LevelResult]) -> tuple[bool, str]:
    """Whether every level's shards ran together, and the figures of the levels where they did not."""
    poor = [
        f"level {lv.level}: shards overlapped {lv.shard_overlap:.0%} of its window, started "
        f"{lv.shard_start_spread_milliseconds or 0:.0f} ms apart, achieved load "
        f"{lv.achieved_load if lv.achieved_load is not None else 'unknown'}"
        for lv in levels
        if lv.shard_overlap is not None and lv.shard_overlap < MIN_SHARD_OVERLAP
    ]
    if not poor:
        spreads = [lv.shard_start_spread_milliseconds or 0.0 for lv in levels]
        return True, f"every level's shards overlapped at least {MIN_SHARD_OVERLAP:.0%} of its window " + (
            f"(start spread at most {max(spreads):.0f} ms)" if spreads else ""
        )
    return False, "; ".join(poor)


def _list(indexes: Sequence[int]) -> str:
    return ", ".join(str(i) for i in indexes)


def _write(shard: ShardBarrier, level: int, at: float, now: float) -> SignalWrite:
    value = json.dumps({"level": level, "at": round(at, 6), "written": round(now, 6)})
    return SignalWrite(shard.config_map, start_key(level), value)


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
