"""The operator's half of the shards' start barrier: the pure decision, and the plan acting on it tick by
tick against the in-memory API server (restarts included)."""

from __future__ import annotations

import json
from datetime import timedelta

from loadgen.barrier import READY_KEY, start_key
from loadtest_operator.loadtest.barrier import (
    LEAD_SECONDS,
    NotReady,
    ShardBarrier,
    Signal,
    decide,
    read_barrier,
)
from loadtest_operator.loadtest.builders.labels import SHARD_LABEL
from tests.unit.loadtest.test_plan import Harness

NOW = 1_800_000_000.0


def shard(index: int, ready: int | None = None, since: float = NOW - 1, **signals: Signal) -> ShardBarrier:
    return ShardBarrier(
        index,
        f"cm-{index}",
        ready_level=ready,
        ready_since=since if ready is not None else None,
        signals={int(k.removeprefix("l")): v for k, v in signals.items()},
    )


def starts(decision_writes: tuple[object, ...]) -> dict[str, dict[str, float]]:
    return {w.config_map: json.loads(w.value) for w in decision_writes}  # type: ignore[attr-defined]


def test_nothing_is_written_until_every_running_shard_is_ready() -> None:
    assert decide([shard(0), shard(1)], NOW).writes == ()
    assert decide([shard(0, ready=0), shard(1)], NOW).writes == ()
    assert decide([shard(0, ready=0), shard(1)], NOW).not_ready is None


def test_every_shard_gets_the_same_start_a_lead_ahead() -> None:
    decision = decide([shard(0, ready=0), shard(1, ready=0), shard(2, ready=0)], NOW)
    signals = starts(decision.writes)
    assert sorted(signals) == ["cm-0", "cm-1", "cm-2"]
    assert {w.key for w in decision.writes} == {start_key(0)}
    assert all(s == {"level": 0, "at": NOW + LEAD_SECONDS, "written": NOW} for s in signals.values())


def test_a_signal_once_written_is_never_written_again() -> None:
    sig = Signal(NOW + 1, NOW)
    assert decide([shard(0, ready=0, l0=sig), shard(1, ready=0, l0=sig)], NOW + 5).writes == ()


def test_a_shard_left_without_its_signal_gets_the_same_start() -> None:
    # The operator wrote shard 0's signal and died before shard 1's: the next tick finishes the job.
    sig = Signal(NOW + 1, NOW)
    decision = decide([shard(0, ready=0, l0=sig), shard(1, ready=0)], NOW + 4)
    assert starts(decision.writes) == {"cm-1": {"level": 0, "at": NOW + 1, "written": NOW + 4}}


def test_the_next_level_waits_for_the_shard_still_running_the_last() -> None:
    sig = Signal(NOW - 30, NOW - 31)
    shards = [shard(0, ready=1, since=NOW - 2, l0=sig), shard(1, ready=0, l0=sig)]
    assert decide(shards, NOW).writes == ()
    decision = decide([shard(0, ready=1, l0=sig), shard(1, ready=1, l0=sig)], NOW)
    assert {w.key for w in decision.writes} == {start_key(1)}


def test_shards_not_ready_past_the_timeout_are_named_with_the_wait() -> None:
    shards = [shard(0, ready=0, since=NOW - 301), shard(1, ready=0, since=NOW - 200), shard(2)]
    assert decide(shards, NOW, timeout_seconds=400).not_ready is None
    assert decide(shards, NOW, timeout_seconds=300).not_ready == NotReady(0, (0, 1), (2,), 301.0)


def test_barrier_keys_are_read_back_and_mangled_ones_are_absent() -> None:
    cm = {
        "metadata": {"name": "r-1", "labels": {SHARD_LABEL: "1"}},
        "data": {
            READY_KEY: json.dumps({"level": 2, "since": NOW}),
            start_key(0): json.dumps({"level": 0, "at": NOW - 10, "written": NOW - 11}),
            start_key(1): "not json",
            "barrierStart.x": "{}",
            "progress": "{}",
        },
    }
    barrier = read_barrier(cm)
    assert barrier == ShardBarrier(1, "r-1", 2, NOW, {0: Signal(NOW - 10, NOW - 11)})
    assert barrier.waiting_for() == 2
    mangled = {**cm, "data": {READY_KEY: json.dumps({"level": "2", "since": True})}}
    assert read_barrier(mangled) == ShardBarrier(1, "r-1", None, None, {})
    assert read_barrier({"metadata": {"name": "other"}}) is None


# -- through the plan, the observer and the executor -------------------------------------------------


def ready(h: Harness, shard_index: int, level: int) -> None:
    h.kube.report(shard_index, **{READY_KEY: json.dumps({"level": level, "since": h.now.timestamp()})})


def signal_of(h: Harness, shard_index: int, level: int) -> dict[str, float] | None:
    cm = next(
        c
        for c in h.kube.kind("ConfigMap")
        if (c["metadata"]["labels"] or {}).get(SHARD_LABEL) == str(shard_index)
    )
    text = (cm.get("data") or {}).get(start_key(level))
    return json.loads(text) if text else None


def started_harness() -> Harness:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    h.tick()
    return h


def test_the_operator_starts_a_level_once_both_shards_are_ready() -> None:
    h = started_harness()
    ready(h, 0, 0)
    h.tick()
    assert signal_of(h, 0, 0) is None  # shard 1 is still warming up
    ready(h, 1, 0)
    h.tick()
    first, second = signal_of(h, 0, 0), signal_of(h, 1, 0)
    assert first is not None
    assert first == second
    assert first["at"] == h.now.timestamp() + LEAD_SECONDS
    assert h.reasons()[-1] == "LevelStarting"
    patched = len(h.kube.patched)
    h.ctx = h.new_context()  # an operator restart writes nothing twice
    h.tick()
    assert len(h.kube.patched) == patched
    ready(h, 0, 1)
    ready(h, 1, 1)
    h.tick()
    assert signal_of(h, 0, 1) == signal_of(h, 1, 1) is not None
    assert signal_of(h, 0, 0) == first  # the earlier level's signal is left as it was


def test_shards_that_never_get_ready_fail_the_run_with_their_names() -> None:
    h = started_harness()
    ready(h, 0, 0)
    h.now += timedelta(seconds=301)
    h.tick()
    assert h.condition("Succeeded") == ("False", "ShardsNotReady")
    message = next(c for c in h.body["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert "shard(s) 1 not ready to start level 0" in message
    assert "shard 1: still starting" in message
    assert "waited 30" in message
    assert {k for k, _ in h.kube.deleted} == {"Job"}  # the waiting shard is stopped too


def test_a_single_shard_needs_no_barrier() -> None:
    from tests.unit.operator.specs import merged

    from .test_plan import SPEC

    h = Harness(merged(SPEC, {"loadGenerator": {"parallelism": 1}}))
    h.tick()
    h.kube.start_pods()
    h.tick()
    ready(h, 0, 0)
    h.now += timedelta(seconds=1000)
    h.tick()
    assert h.kube.patched == []
    assert h.condition("Succeeded")[1] != "ShardsNotReady"


def test_shards_that_did_not_overlap_are_flagged_with_the_figures() -> None:
    from loadgen.compact import encode_compact
    from tests.unit.loadgen.helpers import level_from_rows, run_of

    h = started_harness()

    def result(offset: float) -> str:
        levels = [
            level_from_rows([(50_000, 360_000, 16, 64, 0)] * 100, start=1000.0 + offset + 100 * i,
                            end=1005.0 + offset + 100 * i, offered_load=n // 2, busy_seconds=5.0 * n / 2)
            for i, n in enumerate([4, 8])
        ]  # fmt: skip
        return encode_compact(run_of([lv.model_copy(update={"index": i}) for i, lv in enumerate(levels)]))

    h.kube.finish(0, result(0.0))
    h.kube.finish(1, result(50.0))
    h.tick()
    h.tick()
    assert h.condition("ShardsAligned") == ("False", "ShardsMisaligned")
    message = next(c for c in h.body["status"]["conditions"] if c["type"] == "ShardsAligned")["message"]
    assert "level 4: shards overlapped 0% of its window, started 50000 ms apart" in message
    level = h.body["status"]["levels"][0]
    assert (level["shardOverlap"], level["shardStartSpreadMilliseconds"]) == (0.0, 50000.0)
    assert level["achievedLoad"] == round(2 * 5.0 * 2 / 55.0, 3)
    assert "ShardsMisaligned" in h.reasons()


def test_shards_that_ran_together_are_said_to_have() -> None:
    h = started_harness()
    h.kube.finish(0)
    h.kube.finish(1)
    h.tick()
    h.tick()
    assert h.condition("ShardsAligned") == ("True", "ShardsOverlapped")
