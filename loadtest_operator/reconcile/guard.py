"""The one catch-all, at the boundary of every tick (DESIGN.md): whatever goes wrong, the object's status
says so (Stalled=True, reason ReconcileError, the error quoted), an Event says it once, and the next try
waits longer, so no failure is ever an endless silent retry. Nor an endless loud one: once every tick
has failed for the operator's stalled deadline (Stalled=True's lastTransitionTime, kept in status across
restarts), the kind's ending (reconcile/stalled.py) gives the object up: a LoadTest run ends
(StalledTooLong) with its Jobs stopped, a CapacityRecommendation's search stops."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadtest_operator.api import Condition
from loadtest_operator.api.wire import to_wire
from loadtest_operator.core.conditions import (
    RECONCILE_ERROR,
    STALLED,
    find_condition,
    parse_conditions,
    recover,
    stall,
    stalled_since,
)
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.stalled import Ending, Stalled

Reconcile = Callable[[Context, Mapping[str, Any], EventSink], Awaitable[dict[str, Any]]]
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class Outcome:
    status_patch: dict[str, Any]
    retry_in: float | None = None  # set when the tick failed: back off this long
    error: str | None = None


def backoff_seconds(retry: int, interval: float) -> float:
    """Doubling from the tick interval (at least 5 s) up to five minutes."""
    return float(min(MAX_BACKOFF_SECONDS, max(interval, 5.0) * 2 ** min(retry, 16)))


async def guarded(
    ctx: Context,
    kind: str,
    body: Mapping[str, Any],
    reconcile: Reconcile,
    event: EventSink,
    *,
    retry: int,
    interval: float,
    now: datetime | None = None,
    ending: Ending | None = None,
) -> Outcome:
    now = now or datetime.now(UTC)
    status: Mapping[str, Any] = body.get("status") or {}
    conditions = parse_conditions(status.get("conditions"))
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    if ending is not None and ending.ended(body):
        return Outcome({})  # given up at the stalled deadline: nothing runs until the spec changes
    ctx.metrics.reconciles.labels(kind).inc()
    try:
        patch = await reconcile(ctx, body, event)
    except Exception as exc:
        ctx.metrics.reconcile_errors.labels(kind).inc()
        error = f"{type(exc).__name__}: {exc}"
        ctx.log.warning("%s %s: reconcile failed: %s", kind, _name(body), error, exc_info=exc)
        before = find_condition(conditions, STALLED)
        stalled = stall(conditions, error, now=now, observed_generation=generation)
        after = find_condition(stalled, STALLED)
        if before != after and (before is None or before.message != (after.message if after else None)):
            event("Warning", RECONCILE_ERROR, error[:1024])  # once per distinct error, not every retry
        deadline = ctx.settings.stalled_deadline_seconds
        since = stalled_since(stalled) or now
        stalled_for = (now - since).total_seconds()
        if ending is not None and deadline > 0 and stalled_for >= deadline:
            ended = await _end(ctx, kind, body, ending, Stalled(stalled, error, stalled_for, now), event)
            if ended is not None:
                return Outcome(ended)
        retry_in = backoff_seconds(retry, interval)
        if deadline > 0 and stalled_for < deadline:
            retry_in = min(retry_in, max(deadline - stalled_for, 1.0))  # try once more at the deadline
        return Outcome(_conditions_patch(stalled), retry_in, error)
    wanted = patch.get("conditions")
    current = parse_conditions(wanted) if isinstance(wanted, list) else conditions
    healed = recover(current, now=now, observed_generation=generation)
    if healed != current:
        patch = {**patch, **_conditions_patch(healed)}
    return Outcome(patch)


async def _end(
    ctx: Context, kind: str, body: Mapping[str, Any], ending: Ending, stalled: Stalled, event: EventSink
) -> dict[str, Any] | None:
    """The kind's ending; None when it had ended already or could not be carried out (then the object
    stays Stalled and the next retry tries again)."""
    try:
        patch = await ending.end(ctx, body, stalled, event)
    except Exception as exc:  # the catch-all's own last step: it must not escape either
        ctx.log.warning(
            "%s %s: ending it after the stalled deadline failed: %s", kind, _name(body), exc, exc_info=exc
        )
        return None
    if patch is not None:
        ctx.log.error("%s %s: ended after %.0f s of failed reconciles: %s", kind, _name(body),
                      stalled.seconds, stalled.error)  # fmt: skip
    return patch


def _conditions_patch(conditions: list[Condition]) -> dict[str, Any]:
    return {"conditions": [to_wire(c) for c in conditions]}


def _name(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
