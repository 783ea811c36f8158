"""What every reconcile gets: the I/O clients and the operator's settings, built once at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.engine import Engine

from loadtest_operator.io.kube import Kube
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.reconcile.settings import OperatorSettings

EventSink = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


@dataclass
class Context:
    kube: Kube
    settings: OperatorSettings
    metrics: OperatorMetrics
    engine: Engine | None
    http: httpx.AsyncClient
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("llmload.operator"))
