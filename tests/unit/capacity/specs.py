"""Specs and objects shared by the capacity tests."""

from typing import Any

from loadtest_operator.api import CAPACITY_KIND, CapacityRecommendationSpec
from loadtest_operator.core.owner import Owner

PARENT = Owner(
    name="llama-next-month", namespace="bench", uid="0f1e2d3c-aaaa-bbbb-cccc-000000000001", kind=CAPACITY_KIND
)


def raw_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"serviceRef": {"name": "vllm", "port": 8000}, "deploymentRef": {"name": "vllm"}},
        "workload": {"peakConcurrency": 500, "inputTokens": {"mean": 256}, "outputTokens": {"mean": 512}},
        "slo": {"ttftMilliseconds": 500, "tpotMilliseconds": 50, "percentile": 95, "goodputPercent": 95},
        "headroomPercent": 20,
        "requestsPerLevel": 200,
        "cost": {"pricePerGpuHour": "2.50"},
    }
    spec.update(overrides)
    return spec


def make_spec(**overrides: Any) -> CapacityRecommendationSpec:
    return CapacityRecommendationSpec.model_validate(raw_spec(**overrides))
