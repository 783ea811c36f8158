"""The dashboard's live stream: a running LoadTest's status as server-sent events, read from the API
server with the watching person's own token (io/user_reads.py), so the cluster decides what they may
see. Bounded: MAX_STREAMS_PER_USER and MAX_STREAMS open at once (429 beyond), MAX_STREAM_SECONDS per
stream, one read every POLL_SECONDS, a heartbeat comment after HEARTBEAT_SECONDS of silence (which also
finds a browser that has gone). docs/dashboard.md, "The live stream".

Events: `status` (the LoadTest now: phase, progress, conditions and its levels in the shape of the API's
stored levels), `end` ({"reason": "Finished" | "MaxDuration"}) and `error` ({"status", "message"})."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from pydantic import ValidationError

from loadtest_operator.api import LevelResult
from loadtest_operator.api.enums import Phase
from loadtest_operator.io.store import level_row
from loadtest_operator.io.user_reads import UserReadError
from loadtest_operator.results.figures import run_gpus
from loadtest_operator.results.views import level_json

POLL_SECONDS = 2.0
HEARTBEAT_SECONDS = 10.0
MAX_STREAM_SECONDS = 30 * 60.0
MAX_STREAMS_PER_USER = 4
MAX_STREAMS = 64
FINAL_PHASES = frozenset({Phase.SUCCEEDED.value, Phase.FAILED.value, Phase.REJECTED.value})


class Reads(Protocol):
    async def loadtest(self, namespace: str, name: str, token: str) -> dict[str, Any]: ...


class StreamSlots:
    """Open streams per user and in all; `acquire` says why not when a bound is reached."""

    def __init__(self, per_user: int = MAX_STREAMS_PER_USER, total: int = MAX_STREAMS) -> None:
        self.per_user, self.total = per_user, total
        self.open: Counter[str] = Counter()

    def acquire(self, user: str) -> str | None:
        if sum(self.open.values()) >= self.total:
            return f"the service already streams {self.total} live pages: try again in a few minutes"
        if self.open[user] >= self.per_user:
            return (
                f"{user} already has {self.per_user} live pages open: close one (each tab of a running "
                "LoadTest holds one stream)"
            )
        self.open[user] += 1
        return None

    def release(self, user: str) -> None:
        self.open[user] -= 1
        if self.open[user] <= 0:
            del self.open[user]


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    """A LoadTest object as the `status` event: its levels as the API's stored levels (level_json), so
    the page draws live and stored runs with one code path. A level the operator did not write (it does
    not parse) is counted in `unreadableLevels`, not shown."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    summary = {k: v for k, v in status.items() if k != "levels"}
    gpus = run_gpus(summary)
    run_id = int(status.get("runId") or 0)
    levels, unreadable = [], 0
    for wire in status.get("levels") or []:
        try:
            result = LevelResult.model_validate(wire)
        except ValidationError:
            unreadable += 1
            continue
        levels.append(level_json(level_row(str(metadata.get("uid")), run_id, result), gpus, detail=True))
    return {
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
        "runId": run_id,
        "phase": status.get("phase"),
        "progress": status.get("progress"),
        "summary": status.get("summary"),
        "conditions": [
            {k: c.get(k) for k in ("type", "status", "reason", "message")}
            for c in status.get("conditions") or []
            if isinstance(c, dict)
        ],
        "target": status.get("target"),
        "fingerprint": status.get("fingerprint"),
        "slo": (obj.get("spec") or {}).get("slo"),
        "levels": levels,
        "unreadableLevels": unreadable,
    }


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


HEARTBEAT = ": heartbeat\n\n"


async def stream(
    reads: Reads,
    namespace: str,
    name: str,
    token: str,
    first: dict[str, Any],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    gone: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """The events of one stream, starting from `first` (the read that admitted it): a `status` event
    whenever the object's resourceVersion moves, until it finishes, the read fails or time is up."""
    started = quiet_since = clock()
    yield event("status", snapshot(first))
    version = (first.get("metadata") or {}).get("resourceVersion")
    current = first
    while (current.get("status") or {}).get("phase") not in FINAL_PHASES:
        if clock() - started >= MAX_STREAM_SECONDS:
            yield event("end", {"reason": "MaxDuration", "seconds": MAX_STREAM_SECONDS})
            return
        await sleep(POLL_SECONDS)
        if await gone():
            return
        try:
            current = await reads.loadtest(namespace, name, token)
        except UserReadError as exc:
            yield event("error", {"status": exc.status, "message": str(exc)})
            return
        moved = (current.get("metadata") or {}).get("resourceVersion")
        if moved != version:
            version, quiet_since = moved, clock()
            yield event("status", snapshot(current))
        elif clock() - quiet_since >= HEARTBEAT_SECONDS:
            quiet_since = clock()
            yield HEARTBEAT
    yield event("end", {"reason": "Finished"})
