"""Ending a LoadTest whose every reconcile has failed for too long (decided purely).

The catch-all (reconcile/guard.py) records each failure as Stalled=True and retries with backoff; past the
operator's stalled deadline an unfinished run is given up instead of retried forever: Succeeded=False
(StalledTooLong) quoting the last error, and the run's Jobs deleted so they stop loading the target. The
plan needs nothing the failing tick reads (only the object itself and, if the API server answers, the
run's Jobs), so it works whatever made the tick fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from loadtest_operator.api import (
    Condition,
    ConditionStatus,
    LoadTestConditionType,
    LoadTestReason,
    LoadTestSpec,
    LoadTestStatus,
)
from loadtest_operator.core.conditions import derive_phase, is_finished, set_condition
from loadtest_operator.core.owner import Owner
from loadtest_operator.core.plan import Delete, Event, Plan, RunEnded
from loadtest_operator.loadtest.builders.names import run_names
from loadtest_operator.loadtest.observed import shard_count

C = LoadTestConditionType
R = LoadTestReason


def run_ids(status: LoadTestStatus, spec: LoadTestSpec | None) -> list[int]:
    """The runs whose Jobs may be loading the target: the one status follows and the one the spec asks
    for (they differ while a runId change could not start yet)."""
    ids = {status.run_id} if status.run_id is not None else set()
    if spec is not None:
        ids.add(spec.run_id)
    return sorted(ids)


def end_stalled(
    owner: Owner,
    spec: LoadTestSpec | None,
    status: LoadTestStatus,
    conditions: Sequence[Condition],
    *,
    generation: int,
    error: str,
    stalled_for: float,
    now: datetime,
    jobs: Sequence[str] = (),
) -> Plan | None:
    """The plan that ends the run, or None when it has ended already. `conditions` are the status's
    with this failure's Stalled=True; `jobs` the run's Jobs the API server listed (if it answered); the
    Jobs named after the spec's shards are deleted too (404 is success)."""
    if is_finished(conditions):
        return None
    run_id = spec.run_id if spec is not None else (status.run_id or 0)
    message = (
        f"every reconcile failed for {stalled_for:.0f} s, past the operator's stalled deadline; the run is "
        f"ended and its Jobs stopped (bump spec.runId to run again). Last error: {error}"
    )
    for type_, state, reason, text in (
        (C.RUNNING, ConditionStatus.FALSE, R.RUN_FINISHED, ""),
        (C.SUCCEEDED, ConditionStatus.FALSE, R.STALLED_TOO_LONG, message),
    ):
        conditions = set_condition(
            conditions, type_, state, reason, text, now=now, observed_generation=generation
        )
    ended = status.model_copy(
        update={
            "conditions": conditions,
            "phase": derive_phase(conditions),
            "run_id": run_id,
            "observed_generation": generation,
            "completion_time": now,
        }
    )
    names = set(jobs)
    shards = shard_count(spec) if spec is not None else 0
    for rid in run_ids(status, spec):
        names.update(run_names(owner, rid).job(i) for i in range(shards))
    model = (status.target.model if status.target else None) or ""
    return Plan(
        status=ended,
        delete=tuple(Delete("Job", name) for name in sorted(names)),
        events=(Event("Warning", R.STALLED_TOO_LONG, message[:1024]),),
        observations=(RunEnded(reason=R.STALLED_TOO_LONG, model=model),),
    )
