"""Shard states from observed Jobs, pods and result ConfigMaps: one table row per situation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loadtest_operator.loadtest.shards import ShardPhase, observe_shards, summarize_progress

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def labelled(shard: int, **body: Any) -> dict[str, Any]:
    return {"metadata": {"name": f"obj-{shard}", "labels": {"llmload.io/shard": str(shard)}}, **body}


def job(shard: int, **status: Any) -> dict[str, Any]:
    return labelled(shard, status=status)


def pod(shard: int, phase: str = "Running", **status: Any) -> dict[str, Any]:
    return labelled(shard, status={"phase": phase, **status})


def result_cm(shard: int, **data: str) -> dict[str, Any]:
    return labelled(shard, data=data)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


UNSCHEDULABLE = {
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu.",
            "lastTransitionTime": iso(NOW - timedelta(seconds=90)),
        }
    ]
}


@pytest.mark.parametrize(
    ("jobs", "pods", "cms", "phase", "reason", "in_message"),
    [
        ([job(0)], [pod(0, "Pending")], [result_cm(0)], ShardPhase.PENDING, None, None),
        ([job(0, active=1)], [pod(0)], [result_cm(0)], ShardPhase.RUNNING, None, None),
        ([job(0, succeeded=1)], [pod(0, "Succeeded")], [result_cm(0, result="x")], ShardPhase.SUCCEEDED, None, None),
        # A result counts even when the Job is already gone (TTL, manual cleanup).
        ([], [], [result_cm(0, result="x")], ShardPhase.SUCCEEDED, None, None),
        ([], [], [result_cm(0)], ShardPhase.FAILED, "ShardDeleted", "deleted"),
        ([job(0, active=1)], [pod(0)], [result_cm(0, error="bad config")], ShardPhase.FAILED, "ShardFailed", "bad config"),
        (
            [job(0, failed=1, conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                           "message": "Job has reached the specified backoff limit"}])],
            [pod(0, "Failed", containerStatuses=[{"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}])],
            [result_cm(0)],
            ShardPhase.FAILED, "ShardFailed", "exit code 3",
        ),
        ([job(0, succeeded=1)], [pod(0, "Succeeded")], [result_cm(0)], ShardPhase.FAILED, "ShardFailed", "without writing"),
        ([job(0)], [pod(0, "Pending", **UNSCHEDULABLE)], [result_cm(0)], ShardPhase.FAILED, "Unschedulable", "Insufficient cpu"),
        (
            [job(0)],
            [pod(0, "Pending", containerStatuses=[{"state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}])],
            [result_cm(0)],
            ShardPhase.FAILED, "ShardFailed", "ErrImagePull",
        ),
    ],
)  # fmt: skip
def test_observe_one_shard(
    jobs: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    cms: list[dict[str, Any]],
    phase: ShardPhase,
    reason: str | None,
    in_message: str | None,
) -> None:
    (state,) = observe_shards(1, jobs, pods, cms, NOW, unschedulable_grace_seconds=60)

    assert state.phase is phase
    assert state.reason == reason
    if in_message:
        assert state.message is not None
        assert in_message in state.message


def test_unschedulable_within_the_grace_period_is_still_pending() -> None:
    (state,) = observe_shards(1, [job(0)], [pod(0, "Pending", **UNSCHEDULABLE)], [result_cm(0)], NOW, 120)

    assert state.phase is ShardPhase.PENDING


def test_progress_sums_shards_and_follows_the_slowest() -> None:
    cms = [
        result_cm(0, progress=json.dumps({"completed": 30, "levelIndex": 1})),
        result_cm(1, progress=json.dumps({"completed": 12, "levelIndex": 0})),
        result_cm(2, result="x", progress=json.dumps({"completed": 50, "levelIndex": 2})),
    ]
    states = observe_shards(3, [job(0), job(1), job(2, succeeded=1)], [pod(0), pod(1)], cms, NOW)

    progress = summarize_progress(states)

    assert progress.completed_requests == 92
    assert progress.current_level_index == 0
    assert (progress.succeeded, progress.failed, progress.running) == (1, 0, 2)


def test_garbled_progress_is_ignored_not_fatal() -> None:
    (state,) = observe_shards(1, [job(0)], [pod(0)], [result_cm(0, progress="{not json")], NOW)

    assert state.phase is ShardPhase.RUNNING
    assert state.progress == {}


def test_a_result_the_observer_could_not_read_is_a_failed_shard() -> None:
    cms = [result_cm(0, result="x"), result_cm(1, result="lg1:AAAA")]
    why = {1: "shard 1 wrote a result that cannot be read: compact result is corrupt"}
    first, second = observe_shards(2, [], [], cms, NOW, unreadable_results=why)

    assert first.phase is ShardPhase.SUCCEEDED
    assert (second.phase, second.reason, second.message) == (ShardPhase.FAILED, "ResultUnreadable", why[1])
    assert second.pod_for_logs is None  # loadgen thought it succeeded: its log says nothing about this
