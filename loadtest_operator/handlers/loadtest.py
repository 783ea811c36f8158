"""LoadTest handlers: one timer per object runs the level-triggered reconcile.

A timer (rather than create/update handlers) is what makes the operator restart-safe: every tick derives
the state from the API server, whatever happened while the operator was away. Finished LoadTests cost a
status read per tick and nothing else.
"""

from __future__ import annotations

import kopf

from loadtest_operator.api import KIND, PLURAL
from loadtest_operator.handlers.common import register_timer
from loadtest_operator.reconcile.loadtest import reconcile_loadtest
from loadtest_operator.reconcile.stalled import LOADTEST_ENDING


def register(registry: kopf.OperatorRegistry, interval: float) -> None:
    register_timer(registry, PLURAL, KIND, interval, reconcile_loadtest, LOADTEST_ENDING)
