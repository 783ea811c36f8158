"""CapacityRecommendation handlers: a timer per recommendation with work left runs the level-triggered
reconcile.

As for LoadTests, a timer (not create/update handlers) makes the search restart-safe: every tick rebuilds
the search from the child LoadTests in the API server. A recommendation at rest (capacity/settled.py) has
no timer; a restarted operator runs its tick once (which writes its record to the store).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from loadtest_operator.api import CAPACITY_KIND, CAPACITY_PLURAL
from loadtest_operator.capacity.settled import capacity_rest_key
from loadtest_operator.handlers.common import register_timer
from loadtest_operator.reconcile.capacity import reconcile_capacity
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.resting import Kind
from loadtest_operator.reconcile.stalled import CAPACITY_ENDING


def rest_key(ctx: Context, body: Mapping[str, Any]) -> str | None:
    return capacity_rest_key(body)


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    register_timer(
        registry,
        Kind(CAPACITY_KIND, CAPACITY_PLURAL, reconcile_capacity, rest_key, interval, CAPACITY_ENDING),
    )
