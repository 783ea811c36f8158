"""metav1.Condition bookkeeping and the phase derived from it.

Conditions are the source of truth; `phase` is a convenience for humans and printer columns.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from loadtest_operator.api import Condition, ConditionStatus, LoadTestConditionType, LoadTestReason, Phase
from loadtest_operator.api.wire import to_wire

# metav1.Condition's message limit (the API server refuses a longer one).
MAX_CONDITION_MESSAGE = 32768


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of `type_`, or None."""
    return next((c for c in conditions if c.type == type_), None)


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A new list with the condition of `type_` set; the others are unchanged and keep their order.

    lastTransitionTime moves to `now` only when the status changes: it answers "since when", so a new
    reason or message with the same status must not reset it.
    """
    previous = find_condition(conditions, type_)
    transition = now if previous is None or previous.status != status else previous.last_transition_time
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=fit_message(message),
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def fit_message(message: str, limit: int = MAX_CONDITION_MESSAGE) -> str:
    """`message` within the API's limit on a condition message, cut with a marker that says so."""
    if len(message) <= limit:
        return message
    marker = f" … ({len(message) - limit + 40} more characters cut)"
    return message[: limit - len(marker)] + marker


def is_condition_true(conditions: Sequence[Condition], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE


def derive_phase(conditions: Sequence[Condition]) -> Phase:
    """Phase from conditions; Succeeded outranks Running outranks Accepted."""
    succeeded = find_condition(conditions, LoadTestConditionType.SUCCEEDED)
    if succeeded is not None and succeeded.status is ConditionStatus.TRUE:
        return Phase.SUCCEEDED
    if succeeded is not None and succeeded.status is ConditionStatus.FALSE:
        accepted = find_condition(conditions, LoadTestConditionType.ACCEPTED)
        rejected = accepted is not None and accepted.status is ConditionStatus.FALSE
        return Phase.REJECTED if rejected else Phase.FAILED
    accepted = find_condition(conditions, LoadTestConditionType.ACCEPTED)
    if accepted is not None and accepted.status is ConditionStatus.FALSE:
        return Phase.REJECTED
    if is_condition_true(conditions, LoadTestConditionType.RUNNING):
        return Phase.RUNNING
    return Phase.PENDING


def is_finished(conditions: Sequence[Condition]) -> bool:
    """Whether the run has reached an end (Succeeded is True or False); a finished run never re-runs
    unless spec.runId changes."""
    succeeded = find_condition(conditions, LoadTestConditionType.SUCCEEDED)
    return succeeded is not None and succeeded.status is not ConditionStatus.UNKNOWN


def parse_conditions(raw: Iterable[Mapping[str, Any]] | None) -> list[Condition]:
    """Conditions from a status dict as kopf hands it over."""
    return [Condition.model_validate(item) for item in raw or []]


def dump_conditions(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    """Conditions as JSON-ready dicts for a status patch (an empty message is left out, see api/wire.py)."""
    return [to_wire(c) for c in conditions]


# The Stalled condition of both kinds: the same type and reasons on each (api/conditions.py), named once.
STALLED = LoadTestConditionType.STALLED
RECONCILE_ERROR = LoadTestReason.RECONCILE_ERROR
RECOVERED = LoadTestReason.RECOVERED
MAX_STALL_MESSAGE = 1024


def stall(
    conditions: Sequence[Condition], error: str, *, now: datetime, observed_generation: int | None
) -> list[Condition]:
    """`conditions` with Stalled=True quoting `error` (the tick failed before it could say anything else)."""
    return set_condition(
        conditions, STALLED, ConditionStatus.TRUE, RECONCILE_ERROR, error[:MAX_STALL_MESSAGE],
        now=now, observed_generation=observed_generation,
    )  # fmt: skip


def recover(
    conditions: Sequence[Condition], *, now: datetime, observed_generation: int | None
) -> list[Condition]:
    """`conditions` with a Stalled=True turned False (Recovered); unchanged when nothing was stalled."""
    if not is_condition_true(conditions, STALLED):
        return list(conditions)
    return set_condition(
        conditions, STALLED, ConditionStatus.FALSE, RECOVERED, "reconciles succeed again",
        now=now, observed_generation=observed_generation,
    )  # fmt: skip


def stalled_since(conditions: Sequence[Condition]) -> datetime | None:
    """Since when every reconcile has failed (Stalled=True's lastTransitionTime), or None when the last
    one succeeded. The time is in status, so it survives an operator restart."""
    found = find_condition(conditions, STALLED)
    if found is None or found.status is not ConditionStatus.TRUE:
        return None
    return found.last_transition_time
