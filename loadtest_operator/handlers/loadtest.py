"""LoadTest handlers: one timer per object runs the level-triggered reconcile.

A timer (rather than create/update handlers) is what makes the operator restart-safe: every tick derives
the state from the API server, whatever happened while the operator was away. A kopf timer puts kopf's
finalizer on the object (docs/operations.md says what that means when the operator is down). Finished
LoadTests cost a status read per tick and nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from loadtest_operator.api import GROUP, PLURAL, VERSION
from loadtest_operator.handlers.common import reconcile_into_status
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.loadtest import reconcile_loadtest


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    @kopf.timer(GROUP, VERSION, PLURAL, interval=interval, registry=registry, id="reconcile")
    async def reconcile_loadtest_timer(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **_: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        await reconcile_into_status(
            "LoadTest", interval, ctx, body, patch, lambda event: reconcile_loadtest(ctx, body, event)
        )
