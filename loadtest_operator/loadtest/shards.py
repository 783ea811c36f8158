"""What each shard of a run is doing, from observed Jobs, pods and result ConfigMaps (pure).

The operator never remembers a shard's state: every reconcile reads it back from the API server, so an
operator restart at any moment loses and duplicates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from loadtest_operator.api.conditions import LoadTestReason
from loadtest_operator.loadtest.builders.labels import SHARD_LABEL

# A pod the scheduler cannot place for this long fails the run (a cluster autoscaler gets this long).
UNSCHEDULABLE_GRACE_SECONDS = 60.0


class ShardPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class ShardState:
    index: int
    phase: ShardPhase
    result: str | None = None  # loadgen's compact result, once written
    progress: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None  # CamelCase, when failed
    message: str | None = None
    pod_for_logs: str | None = None  # a failed pod whose log tail belongs in the message


def shard_index(obj: Mapping[str, Any]) -> int | None:
    value = (obj.get("metadata") or {}).get("labels", {}).get(SHARD_LABEL)
    return int(value) if value is not None and str(value).isdigit() else None


def _by_shard(objects: Sequence[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    out: dict[int, list[Mapping[str, Any]]] = {}
    for obj in objects:
        index = shard_index(obj)
        if index is not None:
            out.setdefault(index, []).append(obj)
    return out


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _unschedulable(pod: Mapping[str, Any], now: datetime, grace_seconds: float) -> str | None:
    """The scheduler's message when the pod has been unschedulable for longer than the grace period."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            if cond.get("reason") != "Unschedulable":
                return None
            since = parse_time(cond.get("lastTransitionTime")) or now
            if (now - since).total_seconds() >= grace_seconds:
                return str(cond.get("message") or "no node fits the pod")
    return None


def _termination(pod: Mapping[str, Any]) -> str | None:
    """`exit code N (Reason)` of the pod's terminated container, if any."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return f"exit code {terminated.get('exitCode')} ({terminated.get('reason', 'Error')})"
    return None


def _waiting_problem(pod: Mapping[str, Any]) -> str | None:
    """Container states that never resolve by themselves (bad image, missing Secret key, ...)."""
    fatal = {"ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "InvalidImageName"}
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in fatal:
            return f"{waiting['reason']}: {waiting.get('message', '')}".strip()
    return None


def _job_failed(job: Mapping[str, Any]) -> str | None:
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".rstrip(": ")
    if status.get("failed"):
        return "the pod failed"
    return None


def _progress(config_map: Mapping[str, Any] | None) -> dict[str, Any]:
    raw = ((config_map or {}).get("data") or {}).get("progress")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def observe_shards(
    shard_count: int,
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    result_config_maps: Sequence[Mapping[str, Any]],
    now: datetime,
    unschedulable_grace_seconds: float = UNSCHEDULABLE_GRACE_SECONDS,
    unreadable_results: Mapping[int, str] | None = None,
) -> list[ShardState]:
    """The state of every shard 0..shard_count-1 of a run whose Jobs have been created.

    `unreadable_results` holds, by shard index, why a result the observer tried to read is not one: that
    shard has failed (ResultUnreadable), like a shard whose pod failed."""
    jobs_by = _by_shard(jobs)
    pods_by = _by_shard(pods)
    cms_by = _by_shard(result_config_maps)
    states = []
    for index in range(shard_count):
        cm = next(iter(cms_by.get(index, [])), None)
        data = (cm or {}).get("data") or {}
        progress = _progress(cm)
        if data.get("result"):
            why = (unreadable_results or {}).get(index)
            if why is not None:
                states.append(_failed(index, LoadTestReason.RESULT_UNREADABLE, why))
            else:
                states.append(
                    ShardState(index, ShardPhase.SUCCEEDED, result=data["result"], progress=progress)
                )
            continue
        shard_pods = pods_by.get(index, [])
        pod_name = str((shard_pods[0].get("metadata") or {}).get("name")) if shard_pods else None
        if data.get("error"):
            states.append(
                _failed(index, LoadTestReason.SHARD_FAILED, f"loadgen reported: {data['error']}", pod_name)
            )
            continue
        job = next(iter(jobs_by.get(index, [])), None)
        if job is None:
            states.append(
                _failed(index, LoadTestReason.SHARD_DELETED, f"the Job of shard {index} was deleted before it "
                        "reported a result")
            )  # fmt: skip
            continue
        failure = _job_failed(job)
        if failure is not None:
            detail = next((t for p in shard_pods if (t := _termination(p))), None)
            message = f"shard {index}: {failure}" + (f"; {detail}" if detail else "")
            states.append(_failed(index, LoadTestReason.SHARD_FAILED, message, pod_name))
            continue
        if (job.get("status") or {}).get("succeeded"):
            states.append(
                _failed(
                    index,
                    LoadTestReason.SHARD_FAILED,
                    f"shard {index} exited without writing its result",
                    pod_name,
                )
            )
            continue
        stuck = next(
            (m for p in shard_pods if (m := _unschedulable(p, now, unschedulable_grace_seconds))), None
        )
        if stuck is not None:
            states.append(
                _failed(index, LoadTestReason.UNSCHEDULABLE, f"shard {index} cannot be scheduled: {stuck}")
            )
            continue
        blocked = next((m for p in shard_pods if (m := _waiting_problem(p))), None)
        if blocked is not None:
            states.append(
                _failed(index, LoadTestReason.SHARD_FAILED, f"shard {index} cannot start: {blocked}")
            )
            continue
        running = any((p.get("status") or {}).get("phase") == "Running" for p in shard_pods)
        states.append(
            ShardState(index, ShardPhase.RUNNING if running else ShardPhase.PENDING, progress=progress)
        )
    return states


def _failed(index: int, reason: str, message: str, pod: str | None = None) -> ShardState:
    return ShardState(index, ShardPhase.FAILED, reason=reason, message=message, pod_for_logs=pod)


@dataclass(frozen=True)
class RunProgress:
    completed_requests: int
    current_level_index: int | None
    succeeded: int
    failed: int
    running: int


def summarize_progress(states: Sequence[ShardState]) -> RunProgress:
    completed = 0
    level_indexes = []
    for s in states:
        completed += int(s.progress.get("completed") or 0)
        if s.phase in (ShardPhase.RUNNING, ShardPhase.PENDING) and s.progress.get("levelIndex") is not None:
            level_indexes.append(int(s.progress["levelIndex"]))
    return RunProgress(
        completed_requests=completed,
        # The slowest shard decides where the run as a whole is.
        current_level_index=min(level_indexes) if level_indexes else None,
        succeeded=sum(s.phase is ShardPhase.SUCCEEDED for s in states),
        failed=sum(s.phase is ShardPhase.FAILED for s in states),
        running=sum(s.phase in (ShardPhase.RUNNING, ShardPhase.PENDING) for s in states),
    )
