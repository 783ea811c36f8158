"""What every timer handler does around its reconcile: count it, post its events, turn Kubernetes API
trouble into a kopf retry, and hand the status patch to kopf."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from loadtest_operator.io.kube import KubeError
from loadtest_operator.reconcile.context import Context, EventSink


async def reconcile_into_status(
    kind: str,
    interval: float,
    ctx: Context,
    body: kopf.Body,
    patch: kopf.Patch,
    reconcile: Callable[[EventSink], Awaitable[dict[str, Any]]],
) -> None:
    ctx.metrics.reconciles.labels(kind).inc()

    def event(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    try:
        status_patch = await reconcile(event)
    except KubeError as exc:
        ctx.metrics.reconcile_errors.labels(kind).inc()
        raise kopf.TemporaryError(str(exc), delay=max(interval, 5)) from exc
    for key, value in status_patch.items():
        patch.status[key] = value
