"""What the catch-all does with an object whose every reconcile has failed past the stalled deadline: each
kind's pure ending (loadtest/stalled.py, capacity/stalled.py), carried out by the one executor.

An ending reads as little as it can, because the tick that keeps failing may fail on any read: the
object itself, and for a LoadTest the run's Jobs if the API server lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loadtest_operator.api import CapacityRecommendationStatus, Condition, LoadTestStatus
from loadtest_operator.capacity import stalled as capacity_stalled
from loadtest_operator.capacity.children import parent_of
from loadtest_operator.core.names import label_selector
from loadtest_operator.core.owner import Owner
from loadtest_operator.io.kube import KubeError
from loadtest_operator.loadtest import stalled as loadtest_stalled
from loadtest_operator.loadtest.builders.labels import run_selector
from loadtest_operator.loadtest.validation import parse_spec
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.executor import execute


@dataclass(frozen=True)
class Stalled:
    """One failed tick past the deadline: the conditions with its Stalled=True, the error, how long."""

    conditions: Sequence[Condition]
    error: str
    seconds: float
    now: datetime


@dataclass(frozen=True)
class Ending:
    """A kind's way to end: `ended(body)` says a tick has nothing to do (the object was given up), `end`
    gives it up, returning the status patch (None when it had ended already)."""

    ended: Callable[[Mapping[str, Any]], bool]
    end: Callable[[Context, Mapping[str, Any], Stalled, EventSink], Awaitable[dict[str, Any] | None]]


def _generation(body: Mapping[str, Any]) -> int:
    return int((body.get("metadata") or {}).get("generation") or 0)


async def _end_loadtest(
    ctx: Context, body: Mapping[str, Any], stalled: Stalled, event: EventSink
) -> dict[str, Any] | None:
    owner = Owner.of(body)
    raw_status = body.get("status") or {}
    status = LoadTestStatus.model_validate(raw_status)
    spec, _ = parse_spec(body.get("spec") or {})
    jobs: list[str] = []
    for run_id in loadtest_stalled.run_ids(status, spec):
        try:
            listed = await ctx.kube.jobs(owner.namespace, label_selector(run_selector(owner, run_id)))
        except KubeError as exc:  # the Jobs named after the spec's shards are deleted all the same
            ctx.log.warning("LoadTest %s/%s: listing Jobs to stop: %s", owner.namespace, owner.name, exc)
            continue
        jobs += [str(job["metadata"]["name"]) for job in listed]
    decided = loadtest_stalled.end_stalled(
        owner, spec, status, stalled.conditions,
        generation=_generation(body), error=stalled.error, stalled_for=stalled.seconds, now=stalled.now,
        jobs=jobs,
    )  # fmt: skip
    if decided is None:
        return None
    return await execute(ctx, owner, raw_status, decided, event)


async def _end_capacity(
    ctx: Context, body: Mapping[str, Any], stalled: Stalled, event: EventSink
) -> dict[str, Any] | None:
    raw_status = body.get("status") or {}
    decided = capacity_stalled.end_stalled(
        CapacityRecommendationStatus.model_validate(raw_status), stalled.conditions,
        generation=_generation(body), error=stalled.error, stalled_for=stalled.seconds, now=stalled.now,
    )  # fmt: skip
    if decided is None:
        return None
    return await execute(ctx, parent_of(body), raw_status, decided, event)


def _capacity_ended(body: Mapping[str, Any]) -> bool:
    status = CapacityRecommendationStatus.model_validate(body.get("status") or {})
    return capacity_stalled.ended_by_stall(status, _generation(body))


# A LoadTest's own plan knows a finished run (it only re-checks the store): nothing to skip.
LOADTEST_ENDING = Ending(ended=lambda body: False, end=_end_loadtest)
CAPACITY_ENDING = Ending(ended=_capacity_ended, end=_end_capacity)
