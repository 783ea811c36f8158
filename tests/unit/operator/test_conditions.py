"""Condition bookkeeping and phase derivation."""

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loadtest_operator.api import Condition, ConditionStatus, Phase
from loadtest_operator.api.conditions import (
    CAPACITY_CONDITIONS,
    CAPACITY_REASONS,
    GPU_METRICS_REASONS,
    LOADTEST_CONDITIONS,
    LOADTEST_REASONS,
    CapacityConditionType,
    CapacityReason,
    GpuMetricsReason,
    LoadTestConditionType,
    LoadTestReason,
)
from loadtest_operator.api.status import CONDITION_REASON_PATTERN
from loadtest_operator.core.conditions import (
    derive_phase,
    dump_conditions,
    find_condition,
    is_finished,
    parse_conditions,
    set_condition,
)

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
TRUE, FALSE, UNKNOWN = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN


def cond(type_: str, status: ConditionStatus, reason: str = "R", at: datetime = T0) -> Condition:
    return Condition(type=type_, status=status, reason=reason, last_transition_time=at)


def test_adds_a_new_condition_at_now() -> None:
    (added,) = set_condition([], "Accepted", TRUE, "Valid", "ok", now=T1, observed_generation=2)
    assert added.last_transition_time == T1
    assert added.observed_generation == 2


def test_same_status_keeps_transition_time_but_updates_reason_and_message() -> None:
    before = [cond("Running", TRUE, "LevelStarted")]
    (after,) = set_condition(before, "Running", TRUE, "LevelFinished", "level 8 done", now=T1)
    assert after.last_transition_time == T0
    assert (after.reason, after.message) == ("LevelFinished", "level 8 done")


def test_status_change_moves_transition_time() -> None:
    before = [cond("Running", TRUE)]
    (after,) = set_condition(before, "Running", FALSE, "Finished", "", now=T1)
    assert after.last_transition_time == T1


def test_other_conditions_keep_their_order_and_input_is_not_mutated() -> None:
    before = [cond("Accepted", TRUE), cond("Running", TRUE), cond("Succeeded", UNKNOWN)]
    after = set_condition(before, "Running", FALSE, "Finished", "", now=T1)
    assert [c.type for c in after] == ["Accepted", "Running", "Succeeded"]
    assert before[1].status is TRUE
    assert after[0] is before[0]


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], Phase.PENDING),
        ([cond("Accepted", TRUE)], Phase.PENDING),
        ([cond("Accepted", FALSE)], Phase.REJECTED),
        ([cond("Accepted", FALSE), cond("Succeeded", FALSE)], Phase.REJECTED),
        ([cond("Accepted", TRUE), cond("Running", TRUE), cond("Succeeded", UNKNOWN)], Phase.RUNNING),
        ([cond("Accepted", TRUE), cond("Running", FALSE), cond("Succeeded", TRUE)], Phase.SUCCEEDED),
        ([cond("Accepted", TRUE), cond("Running", FALSE), cond("Succeeded", FALSE)], Phase.FAILED),
        # Succeeded outranks a Running condition someone forgot to clear.
        ([cond("Running", TRUE), cond("Succeeded", TRUE)], Phase.SUCCEEDED),
    ],
)
def test_derive_phase(conditions: list[Condition], phase: Phase) -> None:
    assert derive_phase(conditions) is phase


@pytest.mark.parametrize(
    ("status", "finished"), [(None, False), (UNKNOWN, False), (TRUE, True), (FALSE, True)]
)
def test_is_finished(status: ConditionStatus | None, finished: bool) -> None:
    conditions = [] if status is None else [cond("Succeeded", status)]
    assert is_finished(conditions) is finished


def test_parse_and_dump_round_trip_the_status_dict() -> None:
    raw = [
        {
            "type": "Succeeded",
            "status": "False",
            "reason": "CriteriaNotMet",
            "message": "level 8 not within SLO",
            "lastTransitionTime": "2026-11-23T04:00:00Z",
            "observedGeneration": 1,
        }
    ]
    conditions = parse_conditions(raw)
    assert find_condition(conditions, "Succeeded") is not None
    assert find_condition(conditions, "Running") is None
    assert dump_conditions(conditions) == raw
    assert parse_conditions(None) == []


@pytest.mark.parametrize(
    ("members", "docs"),
    [
        (LoadTestReason, LOADTEST_REASONS),
        (CapacityReason, CAPACITY_REASONS),
        (GpuMetricsReason, GPU_METRICS_REASONS),
        (LoadTestConditionType, LOADTEST_CONDITIONS),
        (CapacityConditionType, CAPACITY_CONDITIONS),
    ],
)
def test_every_condition_type_and_reason_is_documented(members: Any, docs: Mapping[Any, Any]) -> None:
    assert set(docs) == set(members)


def test_reasons_are_valid_condition_reasons() -> None:
    reasons = [*LoadTestReason, *CapacityReason, *GpuMetricsReason]
    for reason in reasons:
        assert re.fullmatch(CONDITION_REASON_PATTERN, reason), reason
        assert reason[0].isupper(), reason


def test_the_stalled_vocabulary_is_the_same_on_both_kinds() -> None:
    assert CapacityConditionType.STALLED.value == LoadTestConditionType.STALLED.value
    assert CapacityReason.RECONCILE_ERROR.value == LoadTestReason.RECONCILE_ERROR.value
    assert CapacityReason.RECOVERED.value == LoadTestReason.RECOVERED.value
