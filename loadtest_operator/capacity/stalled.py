"""Ending a CapacityRecommendation whose every reconcile has failed for too long (decided purely).

Past the operator's stalled deadline the search is given up: Ready=False (StalledTooLong) quoting the last
error, and no tick runs the search again until the spec changes (a new generation). Child LoadTests
already running are bounded runs and end on their own; their results stay for the next search.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from loadtest_operator.api import CapacityRecommendationStatus, Condition
from loadtest_operator.api.conditions import CapacityConditionType, CapacityReason
from loadtest_operator.capacity.plan import not_ready
from loadtest_operator.core.conditions import find_condition
from loadtest_operator.core.plan import Event, Plan


def ended_by_stall(status: CapacityRecommendationStatus, generation: int) -> bool:
    """Whether this generation of the spec was given up (the search stays stopped until it changes)."""
    ready = find_condition(status.conditions or [], CapacityConditionType.READY)
    return (
        ready is not None
        and ready.reason == CapacityReason.STALLED_TOO_LONG
        and status.observed_generation == generation
    )


def end_stalled(
    status: CapacityRecommendationStatus,
    conditions: Sequence[Condition],
    *,
    generation: int,
    error: str,
    stalled_for: float,
    now: datetime,
) -> Plan | None:
    """The plan that ends the search, or None when this generation has ended already."""
    if ended_by_stall(status, generation):
        return None
    message = (
        f"every reconcile failed for {stalled_for:.0f} s, past the operator's stalled deadline; the search "
        f"is stopped until the spec changes. Last error: {error}"
    )
    reason = CapacityReason.STALLED_TOO_LONG
    ended = not_ready(
        status.model_copy(update={"conditions": list(conditions)}),
        reason,
        message,
        now=now,
        generation=generation,
    )
    return Plan(status=ended, events=(Event("Warning", reason, message[:1024]),))
