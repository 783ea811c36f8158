"""The operator's per-level latency gauges carry every percentile the status has."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.loadtest.level_status import levels_status
from tests.unit.loadgen.helpers import run_of
from tests.unit.operator.test_level_status import SLO_RATE, rate_level


def test_latency_gauges_hold_p50_to_p999_of_the_headline_figures() -> None:
    registry = CollectorRegistry()
    (level,) = levels_status(run_of([rate_level([0] * 50 + [300_000] * 50)], SLO_RATE))
    OperatorMetrics(registry).record_levels("bench", "rate", "m", [level])

    def value(metric: str, quantile: str) -> float | None:
        labels = {"namespace": "bench", "loadtest": "rate", "model": "m", "level": "20"}
        return registry.get_sample_value(
            "llmload_level_latency_seconds", {**labels, "metric": metric, "quantile": quantile}
        )

    assert value("ttft", "0.5") == 0.25  # from the schedule: 100 ms answers, half queued 300 ms
    assert value("ttft", "0.95") == 0.4
    assert value("ttft", "0.999") == 0.4
    assert value("e2e", "0.999") == 0.7
    assert value("tpot", "0.99") is not None
