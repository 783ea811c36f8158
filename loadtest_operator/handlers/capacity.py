"""CapacityRecommendation handlers: one timer per object runs the level-triggered reconcile.

As for LoadTests, a timer (not create/update handlers) makes the search restart-safe: every tick rebuilds
the search from the child LoadTests in the API server. A finished recommendation costs a few reads per
tick and writes nothing unless something changed (peak, headroom, cost, the Deployment).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from loadtest_operator.api import CAPACITY_PLURAL, GROUP, VERSION
from loadtest_operator.handlers.common import reconcile_into_status
from loadtest_operator.reconcile.capacity import CapacityReconcile
from loadtest_operator.reconcile.context import Context


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    # uid -> fingerprint of the status last written to the SQL store by this process.
    stored: dict[str, str] = {}

    @kopf.timer(GROUP, VERSION, CAPACITY_PLURAL, interval=interval, registry=registry, id="reconcile")
    async def reconcile_capacity_recommendation(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **_: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        await reconcile_into_status(
            "CapacityRecommendation",
            interval,
            ctx,
            body,
            patch,
            lambda event: CapacityReconcile(ctx=ctx, body=body, event=event, stored=stored).run(),
        )

    @kopf.on.event(GROUP, VERSION, CAPACITY_PLURAL, registry=registry)
    def forget_deleted(event: kopf.RawEvent, uid: str, **_: Any) -> None:
        # An event handler, not on.delete: that would put a finalizer on every object.
        if event["type"] == "DELETED":
            stored.pop(uid, None)
