"""LoadTest handlers: a timer per LoadTest with work left runs the level-triggered reconcile.

A timer (rather than create/update handlers) is what makes the operator restart-safe: every tick derives
the state from the API server, whatever happened while the operator was away. A LoadTest at rest (its run
finished and stored, or its spec refused: loadtest/settled.py) has no timer; a restarted operator checks it
once against the store (handlers/common.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from loadtest_operator.api import KIND, PLURAL
from loadtest_operator.handlers.common import register_timer
from loadtest_operator.loadtest.settled import loadtest_rest_key
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.loadtest import reconcile_loadtest
from loadtest_operator.reconcile.resting import Kind
from loadtest_operator.reconcile.stalled import LOADTEST_ENDING


def rest_key(ctx: Context, body: Mapping[str, Any]) -> str | None:
    return loadtest_rest_key(body, store_configured=ctx.store is not None)


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    register_timer(registry, Kind(KIND, PLURAL, reconcile_loadtest, rest_key, interval, LOADTEST_ENDING))
