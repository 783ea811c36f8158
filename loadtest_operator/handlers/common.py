"""The handlers both kinds use: a timer for objects with work left, the watch-event handler that checks an
object at rest once, and the operator-wide sweep of reconcile/resting.py.

The timer runs the guarded tick (reconcile/guard.py), hands its status patch to kopf, and backs off
through kopf when the tick failed. Its `when=` filter is the kind's pure rest key (loadtest/settled.py,
capacity/settled.py): kopf re-evaluates it on every watch event of the object, stops the timer when the
object comes to rest (its last tick's status patch is such an event) and starts it again when an event
shows work (a runId bump, an edit of a refused spec, Stalled=True). A timer puts kopf's finalizer on the
object it ticks for; kopf removes it once no timer matches, so an object at rest has none (a finished
run can be deleted while the operator is away; docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from loadtest_operator.api import GROUP, VERSION
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.executor import forget
from loadtest_operator.reconcile.guard import guarded
from loadtest_operator.reconcile.resting import Kind, Resting

RESTING = "resting"  # the memo key of the operator's Resting


def register_timer(registry: kopf.OperatorRegistry, kind: Kind) -> None:
    def has_work(body: kopf.Body, memo: Any, **_: Any) -> bool:
        return kind.rest_key(memo["ctx"], body) is None

    @kopf.timer(
        GROUP, VERSION, kind.plural, interval=kind.interval, registry=registry, id="reconcile", when=has_work
    )
    async def tick(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **kwargs: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        retry = int(kwargs.get("retry") or 0)  # kopf's count of consecutive failures of this handler
        outcome = await guarded(
            ctx, kind.kind, body, kind.reconcile, _events(body),
            retry=retry, interval=kind.interval, ending=kind.ending,
        )  # fmt: skip
        for key, value in outcome.status_patch.items():
            patch.status[key] = value
        if outcome.retry_in is not None:
            # kopf applies the status patch above, then waits this long before the next tick.
            raise kopf.TemporaryError(outcome.error or "reconcile failed", delay=outcome.retry_in)

    @kopf.on.event(GROUP, VERSION, kind.plural, registry=registry)
    async def watched(
        event: kopf.RawEvent,
        body: kopf.Body,
        patch: kopf.Patch,
        uid: str,
        name: str,
        namespace: str | None,
        memo: Any,
        **_: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        resting: Resting = memo[RESTING]
        if event["type"] == "DELETED":
            # Drop what this process remembers of a deleted object (an event handler adds no finalizer).
            resting.forget(uid)
            forget(ctx, uid, namespace or "", name)
            return
        if resting.seen(ctx, kind, body):
            outcome = await resting.check(ctx, kind, body, _events(body))
            for key, value in outcome.status_patch.items():
                patch.status[key] = value  # kopf writes it when this event's handling ends
        ctx.metrics.at_rest.labels(kind.kind).set(resting.count(kind.kind))


def register_sweep(registry: kopf.OperatorRegistry, interval: float) -> None:
    """One task for the whole operator: re-checks of objects at rest (reconcile/resting.py)."""

    @kopf.on.startup(registry=registry)
    async def start_sweep(memo: Any, **_: Any) -> None:
        memo["sweep"] = asyncio.create_task(_sweep_forever(memo["ctx"], memo[RESTING], interval))

    @kopf.on.cleanup(registry=registry)
    async def stop_sweep(memo: Any, **_: Any) -> None:
        task: asyncio.Task[None] | None = memo.get("sweep")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _sweep_forever(ctx: Context, resting: Resting, interval: float) -> None:
    while True:
        await asyncio.sleep(max(interval, 1.0))
        try:
            await resting.sweep(ctx, _events)
        except Exception as exc:  # the sweep must outlive any one failure; the next one tries again
            ctx.log.warning("re-check of objects at rest failed: %s", exc, exc_info=exc)


def _events(body: Mapping[str, Any]) -> EventSink:
    def event(type_: str, reason: str, message: str) -> None:
        try:
            kopf.event(body, type=type_, reason=reason, message=message)  # type: ignore[arg-type]
        except LookupError:  # outside kopf's handling of an object (the sweep): the log says it
            logging.getLogger("llmload.operator").info("%s %s: %s", type_, reason, message)

    return event
