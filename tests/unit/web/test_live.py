"""The live stream's pure pieces: the stream bounds, the snapshot of a LoadTest, and the event sequence
on a clock the test drives."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from loadtest_operator.io.user_reads import UserReadError
from loadtest_operator.results.web import live
from tests.browser import recorded


def test_slots_bound_streams_per_user_and_in_all() -> None:
    slots = live.StreamSlots(per_user=2, total=3)
    assert slots.acquire("alice") is None
    assert slots.acquire("alice") is None
    refused = slots.acquire("alice")
    assert refused is not None
    assert "alice already has 2 live pages open" in refused
    assert slots.acquire("bob") is None
    full = slots.acquire("carol")
    assert full is not None
    assert "already streams 3" in full
    slots.release("alice")
    assert slots.acquire("carol") is None
    for user in ("alice", "bob", "carol"):
        slots.release(user)
    assert dict(slots.open) == {}


def test_snapshot_has_the_levels_in_the_stored_shape() -> None:
    obj = recorded.recorded(recorded.BATCHING)
    obj["metadata"]["resourceVersion"] = "7"
    shot = live.snapshot(obj)
    wire = obj["status"]["levels"]
    assert [lv["level"] for lv in shot["levels"]] == [lv["level"] for lv in wire]
    first = shot["levels"][0]
    assert first["figures"]["ttft_p90_ms"] == wire[0]["ttft"]["p90"]
    assert first["figures"]["gpu_count"] == 1.0
    assert first["result"]["server"]["requestsWaitingMean"] == wire[0]["server"]["requestsWaitingMean"]
    assert (shot["phase"], shot["resourceVersion"], shot["unreadableLevels"]) == ("Succeeded", "7", 0)
    assert shot["slo"] == {"percentile": 90, "tpotMilliseconds": 100, "ttftMilliseconds": 150}
    json.dumps(shot)  # an event's data is JSON


def test_a_level_the_operator_did_not_write_is_counted_not_shown() -> None:
    obj = recorded.recorded(recorded.BATCHING)
    obj["status"]["levels"].append({"level": "many", "requests": -1})
    shot = live.snapshot(obj)
    assert shot["unreadableLevels"] == 1
    assert len(shot["levels"]) == len(obj["status"]["levels"]) - 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class Reads:
    """Answers a scripted sequence of objects (or errors), one per read."""

    def __init__(self, answers: list[dict[str, Any] | UserReadError]) -> None:
        self.answers = answers
        self.count = 0

    async def loadtest(self, namespace: str, name: str, token: str) -> dict[str, Any]:
        answer = self.answers[min(self.count, len(self.answers) - 1)]
        self.count += 1
        if isinstance(answer, UserReadError):
            raise answer
        return answer


def lt(version: str, phase: str = "Running", levels: int = 0) -> dict[str, Any]:
    wire = recorded.recorded(recorded.BATCHING)["status"]["levels"][:levels]
    return {
        "metadata": {"name": "x", "namespace": "ns", "resourceVersion": version},
        "status": {"phase": phase, "levels": wire},
    }


async def events(
    reads: Reads, first: dict[str, Any], clock: Clock, gone: bool = False
) -> list[tuple[str, Any]]:
    async def is_gone() -> bool:
        return gone

    out = []
    async for chunk in live.stream(
        reads, "ns", "x", "t", first, clock=clock, sleep=clock.sleep, gone=is_gone
    ):
        if chunk == live.HEARTBEAT:
            out.append(("heartbeat", clock.now))
            continue
        head, data = chunk.strip().split("\n")
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


async def test_a_status_event_per_change_then_the_end() -> None:
    clock = Clock()
    reads = Reads([lt("1"), lt("2", levels=1), lt("2", levels=1), lt("3", "Succeeded", levels=2)])
    got = await events(reads, lt("1"), clock)
    assert [name for name, _ in got] == ["status", "status", "status", "end"]
    assert [len(data["levels"]) for name, data in got if name == "status"] == [0, 1, 2]
    assert got[-1] == ("end", {"reason": "Finished"})
    assert reads.count == 4
    assert clock.now == 4 * live.POLL_SECONDS


async def test_heartbeats_in_silence_and_the_duration_bound() -> None:
    clock = Clock()
    got = await events(Reads([lt("1")]), lt("1"), clock)
    beats = [t for name, t in got if name == "heartbeat"]
    assert beats
    assert all(b - a == pytest.approx(live.HEARTBEAT_SECONDS) for a, b in itertools.pairwise(beats))
    assert got[-1] == ("end", {"reason": "MaxDuration", "seconds": live.MAX_STREAM_SECONDS})
    assert clock.now == pytest.approx(live.MAX_STREAM_SECONDS)


async def test_a_refused_read_ends_the_stream_with_its_reason() -> None:
    clock = Clock()
    got = await events(Reads([UserReadError("token expired", 401)]), lt("1"), clock)
    assert got[-1] == ("error", {"status": 401, "message": "token expired"})


async def test_a_finished_loadtest_is_one_event_and_a_gone_browser_stops_reading() -> None:
    assert [n for n, _ in await events(Reads([]), lt("1", "Failed"), Clock())] == ["status", "end"]
    reads = Reads([lt("2")])
    assert [n for n, _ in await events(reads, lt("1"), Clock(), gone=True)] == ["status"]
    assert reads.count == 0
