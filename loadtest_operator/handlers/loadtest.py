"""LoadTest handlers: one timer per object runs the level-triggered reconcile.

A timer (rather than create/update handlers) is what makes the operator restart-safe: every tick derives
the state from the API server, whatever happened while the operator was away. Finished LoadTests cost a
status read per tick and nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from loadtest_operator.api import GROUP, PLURAL, VERSION
from loadtest_operator.kube import KubeError
from loadtest_operator.reconcile import Context, Reconcile


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    @kopf.timer(GROUP, VERSION, PLURAL, interval=interval, registry=registry, id="reconcile")
    async def reconcile_loadtest(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **_: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        ctx.metrics.reconciles.labels("LoadTest").inc()

        def event(type_: str, reason: str, message: str) -> None:
            kopf.event(body, type=type_, reason=reason, message=message)

        try:
            status_patch = await Reconcile(ctx=ctx, body=body, event=event).run()
        except KubeError as exc:
            ctx.metrics.reconcile_errors.labels("LoadTest").inc()
            raise kopf.TemporaryError(str(exc), delay=max(interval, 5)) from exc
        for key, value in status_patch.items():
            patch.status[key] = value
