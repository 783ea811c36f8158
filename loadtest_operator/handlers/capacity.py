"""CapacityRecommendation handlers: one timer per object runs the level-triggered reconcile.

As for LoadTests, a timer (not create/update handlers) makes the search restart-safe: every tick rebuilds
the search from the child LoadTests in the API server. A finished recommendation costs a few reads per
tick and writes nothing unless something changed.
"""

from __future__ import annotations

import kopf

from loadtest_operator.api import CAPACITY_KIND, CAPACITY_PLURAL
from loadtest_operator.handlers.common import register_timer
from loadtest_operator.reconcile.capacity import reconcile_capacity
from loadtest_operator.reconcile.stalled import CAPACITY_ENDING


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    register_timer(registry, CAPACITY_PLURAL, CAPACITY_KIND, interval, reconcile_capacity, CAPACITY_ENDING)
