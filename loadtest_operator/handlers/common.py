"""The one timer handler both kinds use: count the tick, post its events, turn Kubernetes API trouble
into a kopf retry, and hand the status patch to kopf.

A kopf timer puts kopf's finalizer on every object it ticks for (docs/operations.md says what that means
while the operator is down)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from loadtest_operator.api import GROUP, VERSION
from loadtest_operator.io.kube import KubeError
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.executor import forget

Reconcile = Callable[[Context, Mapping[str, Any], EventSink], Awaitable[dict[str, Any]]]


def register_timer(
    registry: kopf.OperatorRegistry, plural: str, kind: str, interval: float, reconcile: Reconcile
) -> None:
    @kopf.timer(GROUP, VERSION, plural, interval=interval, registry=registry, id="reconcile")
    async def tick(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **_: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        ctx.metrics.reconciles.labels(kind).inc()

        def event(type_: str, reason: str, message: str) -> None:
            kopf.event(body, type=type_, reason=reason, message=message)

        try:
            status_patch = await reconcile(ctx, body, event)
        except KubeError as exc:
            ctx.metrics.reconcile_errors.labels(kind).inc()
            raise kopf.TemporaryError(str(exc), delay=max(interval, 5)) from exc
        for key, value in status_patch.items():
            patch.status[key] = value

    @kopf.on.event(GROUP, VERSION, plural, registry=registry)
    def forget_deleted(event: kopf.RawEvent, uid: str, memo: Any, **_: Any) -> None:
        # Drop what this process remembers of a deleted object (an event handler adds no finalizer).
        if event["type"] == "DELETED":
            forget(memo["ctx"], uid)
