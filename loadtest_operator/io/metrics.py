"""The operator's own Prometheus metrics (llmload_*), low-cardinality labels only (never uids)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from loadtest_operator.api import LevelResult
from loadtest_operator.core.plan import LiveLevel

LEVEL_LABELS = ("namespace", "loadtest", "model", "level")
# Live gauges: only the current level of a running LoadTest has series (at most 4 per running LoadTest).
LIVE_LABELS = ("namespace", "loadtest", "level")


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.reconciles = Counter("llmload_reconciles_total", "Reconciles run", ["kind"], registry=r)
        self.reconcile_errors = Counter(
            "llmload_reconcile_errors_total", "Reconciles that raised an error", ["kind"], registry=r
        )
        self.at_rest = Gauge(
            "llmload_objects_at_rest",
            "Objects with nothing left to do and checked once by this process: no timer ticks for them",
            ["kind"],
            registry=r,
        )
        self.runs = Counter(
            "llmload_runs_total",
            "LoadTest runs finished, by outcome (condition reason)",
            ["outcome"],
            registry=r,
        )
        self.store_errors = Counter(
            "llmload_store_errors_total", "Failed writes to the SQL store (retried)", registry=r
        )
        self.level_rps = Gauge(
            "llmload_level_requests_per_second", "Completed requests per second", LEVEL_LABELS, registry=r
        )
        self.level_output_tps = Gauge(
            "llmload_level_output_tokens_per_second", "Generated tokens per second", LEVEL_LABELS, registry=r
        )
        self.level_goodput = Gauge(
            "llmload_level_goodput_ratio",
            "Share of requests meeting every SLO (0-1)",
            LEVEL_LABELS,
            registry=r,
        )
        self.level_error_ratio = Gauge(
            "llmload_level_error_ratio", "Share of failed requests (0-1)", LEVEL_LABELS, registry=r
        )
        self.level_latency = Gauge(
            "llmload_level_latency_seconds",
            "Latency percentiles of a level",
            [*LEVEL_LABELS, "metric", "quantile"],
            registry=r,
        )
        self.live_ttft_p50 = Gauge(
            "llmload_live_ttft_p50_seconds",
            "Median TTFT of the current level over the last ~10 s, all shards merged (while running)",
            LIVE_LABELS,
            registry=r,
        )
        self.live_tpot_p50 = Gauge(
            "llmload_live_tpot_p50_seconds",
            "Median TPOT of the current level over the last ~10 s, all shards merged (while running)",
            LIVE_LABELS,
            registry=r,
        )
        self.live_rps = Gauge(
            "llmload_live_requests_per_second",
            "Requests finished per second in the current level over the last ~10 s (while running)",
            LIVE_LABELS,
            registry=r,
        )
        self.live_requests = Gauge(
            "llmload_live_level_requests",
            "Requests finished so far in the current level, all shards (while running)",
            LIVE_LABELS,
            registry=r,
        )
        self.capacity_recommended_replicas = Gauge(
            "llmload_capacity_recommended_replicas",
            "Replicas a CapacityRecommendation recommends for its Deployment",
            ["namespace", "capacityrecommendation", "deployment"],
            registry=r,
        )

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def record_levels(self, namespace: str, loadtest: str, model: str, levels: list[LevelResult]) -> None:
        for lv in levels:
            labels = (namespace, loadtest, model, str(lv.level))
            self.level_rps.labels(*labels).set(lv.requests_per_second)
            self.level_output_tps.labels(*labels).set(lv.output_tokens_per_second)
            if lv.goodput is not None:
                self.level_goodput.labels(*labels).set(lv.goodput.percent / 100.0)
            if lv.requests:
                self.level_error_ratio.labels(*labels).set((lv.requests - lv.successes) / lv.requests)
            for metric in ("ttft", "tpot", "itl", "e2e"):
                summary = getattr(lv, metric)
                if summary is None:
                    continue
                quantiles = (
                    ("0.5", summary.p50), ("0.9", summary.p90), ("0.95", summary.p95),
                    ("0.99", summary.p99), ("0.999", summary.p999),
                )  # fmt: skip
                for quantile, value in quantiles:
                    if value is not None:
                        self.level_latency.labels(*labels, metric, quantile).set(value / 1000.0)

    def record_live(self, namespace: str, loadtest: str, live: LiveLevel) -> None:
        """Set the live gauges of a running LoadTest's current level (the earlier level's series go)."""
        level = str(live.level)
        live_gauges = self._live_gauges()
        _remove_series(live_gauges, namespace, loadtest, keep=lambda labels: labels.get("level") == level)
        labels = (namespace, loadtest, level)
        self.live_requests.labels(*labels).set(live.requests)
        for gauge, value in (
            (self.live_rps, live.requests_per_second),
            (self.live_ttft_p50, live.ttft_p50_seconds),
            (self.live_tpot_p50, live.tpot_p50_seconds),
        ):
            if value is None:  # not measured yet (or no shard at this level reported): no series, no guess
                _remove_series([gauge], namespace, loadtest)
            else:
                gauge.labels(*labels).set(value)

    def end_live(self, namespace: str, loadtest: str) -> None:
        """The run ended: its live series go (the final per-level gauges stay until the LoadTest does)."""
        _remove_series(self._live_gauges(), namespace, loadtest)

    def _live_gauges(self) -> list[Gauge]:
        return [self.live_ttft_p50, self.live_tpot_p50, self.live_rps, self.live_requests]

    def record_recommendation(self, namespace: str, name: str, deployment: str, replicas: int) -> None:
        self.capacity_recommended_replicas.labels(namespace, name, deployment).set(replicas)

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a deleted LoadTest or CapacityRecommendation (its gauges go with it)."""
        gauges = [
            self.level_rps,
            self.level_output_tps,
            self.level_goodput,
            self.level_error_ratio,
            self.level_latency,
            *self._live_gauges(),
            self.capacity_recommended_replicas,
        ]
        _remove_series(gauges, namespace, name)


def _remove_series(
    gauges: list[Gauge], namespace: str, name: str, keep: Callable[[dict[str, str]], bool] = lambda _: False
) -> None:
    """Remove the series of one object (label loadtest or capacityrecommendation `name`), except `keep`."""
    owners = ("loadtest", "capacityrecommendation")
    for gauge in gauges:
        names = gauge._labelnames  # the label order remove() expects
        for family in gauge.collect():
            for sample in family.samples:
                labels = sample.labels
                mine = labels.get("namespace") == namespace and any(labels.get(o) == name for o in owners)
                if mine and not keep(labels):
                    gauge.remove(*(labels[n] for n in names))
