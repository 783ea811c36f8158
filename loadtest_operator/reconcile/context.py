"""What every reconcile gets: the I/O clients and the operator's settings, built once at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from loadtest_operator.core.fetches import FetchPolicy
from loadtest_operator.io.access import AccessReviewer
from loadtest_operator.io.addresses import Resolver, system_resolver
from loadtest_operator.io.kube import Kube
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.io.openai import ModelDiscovery
from loadtest_operator.io.store import Store
from loadtest_operator.reconcile.settings import OperatorSettings

EventSink = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


@dataclass
class Context:
    kube: Kube
    settings: OperatorSettings
    metrics: OperatorMetrics
    store: Store | None
    models: ModelDiscovery = field(default_factory=ModelDiscovery)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("llmload.operator"))
    # uid -> fingerprint of the record last written to the store by this process (no rewrite of the same).
    stored: dict[str, str] = field(default_factory=dict)
    # The admission webhook's SubjectAccessReview client (None where the operator serves no webhook).
    reviewer: AccessReviewer | None = None
    # Where the operator itself may send requests (model discovery, Prometheus).
    fetches: FetchPolicy = field(default_factory=FetchPolicy)
    # How those requests' hosts are resolved (once per fetch; the request dials the checked answer).
    resolver: Resolver = system_resolver
