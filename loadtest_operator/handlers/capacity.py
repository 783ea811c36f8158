"""CapacityRecommendation handlers: one timer per object runs the level-triggered reconcile.

As for LoadTests, a timer (not create/update handlers) makes the search restart-safe: every tick rebuilds
the search from the child LoadTests in the API server. kopf timers need kopf's finalizer on every object
they tick for (see docs/operations.md for deleting while the operator is down). A finished
recommendation costs a few reads per tick and writes nothing unless something changed.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from loadtest_operator.api import CAPACITY_PLURAL, GROUP, VERSION
from loadtest_operator.handlers.common import reconcile_into_status
from loadtest_operator.reconcile.capacity import reconcile_capacity
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.executor import forget


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
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
            lambda event: reconcile_capacity(ctx, body, event),
        )

    @kopf.on.event(GROUP, VERSION, CAPACITY_PLURAL, registry=registry)
    def forget_deleted(event: kopf.RawEvent, uid: str, memo: Any, **_: Any) -> None:
        # Drop the store fingerprint of a deleted object (an event handler adds no finalizer of its own).
        if event["type"] == "DELETED":
            forget(memo["ctx"], uid)
