"""The one timer handler both kinds use: run the guarded tick (reconcile/guard.py), hand its status patch
to kopf, and back off through kopf when the tick failed.

A kopf timer puts kopf's finalizer on every object it ticks for (docs/operations.md says what that means
while the operator is down)."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from loadtest_operator.api import GROUP, VERSION
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.executor import forget
from loadtest_operator.reconcile.guard import Reconcile, guarded
from loadtest_operator.reconcile.stalled import Ending


def register_timer(
    registry: kopf.OperatorRegistry,
    plural: str,
    kind: str,
    interval: float,
    reconcile: Reconcile,
    ending: Ending | None = None,
) -> None:
    @kopf.timer(GROUP, VERSION, plural, interval=interval, registry=registry, id="reconcile")
    async def tick(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **kwargs: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        retry = int(kwargs.get("retry") or 0)  # kopf's count of consecutive failures of this handler

        def event(type_: str, reason: str, message: str) -> None:
            kopf.event(body, type=type_, reason=reason, message=message)

        outcome = await guarded(
            ctx, kind, body, reconcile, event, retry=retry, interval=interval, ending=ending
        )
        for key, value in outcome.status_patch.items():
            patch.status[key] = value
        if outcome.retry_in is not None:
            # kopf applies the status patch above, then waits this long before the next tick.
            raise kopf.TemporaryError(outcome.error or "reconcile failed", delay=outcome.retry_in)

    @kopf.on.event(GROUP, VERSION, plural, registry=registry)
    def forget_deleted(
        event: kopf.RawEvent, uid: str, name: str, namespace: str | None, memo: Any, **_: Any
    ) -> None:
        # Drop what this process remembers of a deleted object (an event handler adds no finalizer).
        if event["type"] == "DELETED":
            forget(memo["ctx"], uid, namespace or "", name)
