"""The service's own health signals: Prometheus metrics (a registry of its own, low-cardinality labels:
the route template, never the path) and one JSON access-log line per request with its request id
(X-Request-ID, generated when absent or unusable) and the caller's user name. Tokens are never logged:
the line holds no header and no query string."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

ACCESS_LOG = logging.getLogger("llmload.results.access")
REQUEST_ID = "X-Request-ID"
_USABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Probes and scrapes come every few seconds: counted in the metrics, logged at DEBUG only.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llmload_results_requests_total",
            "HTTP requests answered",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "llmload_results_request_duration_seconds",
            "Time to answer a request",
            ["route"],
            registry=self.registry,
        )
        self.reviews = Counter(
            "llmload_results_reviews_total",
            "TokenReviews and SubjectAccessReviews sent to the API server (cache misses)",
            ["kind"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "llmload_results_store_errors_total",
            "Store calls that failed (answered 503)",
            registry=self.registry,
        )


def request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID, "")
    return given if _USABLE_ID.match(given) else uuid.uuid4().hex


def access_middleware(
    metrics: ServiceMetrics,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request_id(request)
        request.state.request_id = rid
        request.state.user = None
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers[REQUEST_ID] = rid
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(request.scope.get("route"), "path", "unmatched")
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.duration.labels(route).observe(elapsed)
            ACCESS_LOG.log(
                logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO,
                json.dumps(
                    {
                        "time": datetime.now(UTC).isoformat(),
                        "requestId": rid,
                        "method": request.method,
                        "path": request.url.path,
                        "route": route,
                        "status": status,
                        "durationMs": round(elapsed * 1000, 1),
                        "user": request.state.user,
                        "client": request.client.host if request.client else None,
                    }
                ),
            )

    return middleware
