"""Cross-field rules of a CapacityRecommendation spec, and the schema rules pydantic enforces."""

from typing import Any

import pytest

from loadtest_operator.api.conditions import CapacityReason
from loadtest_operator.capacity.validation import parse_capacity_spec, validate_capacity_spec
from tests.unit.capacity.specs import make_spec, raw_spec


def test_the_example_spec_is_valid() -> None:
    spec, problems = parse_capacity_spec(raw_spec())
    assert problems == []
    assert spec is not None
    assert validate_capacity_spec(spec) == []
    assert spec.scale_deployment is False  # never touch the Deployment unless asked
    assert spec.cost is not None
    assert spec.cost.currency == "USD"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"workload": {"inputTokens": {"mean": 1}, "outputTokens": {"mean": 1}}},
            "spec.workload",
            "exactly one of peakConcurrency",
        ),
        (
            {
                "workload": {
                    "peakConcurrency": 5,
                    "peakRequestsPerSecond": 5,
                    "inputTokens": {"mean": 1},
                    "outputTokens": {"mean": 1},
                }
            },
            "spec.workload",
            "exactly one",
        ),
        (
            {"workload": {"peakConcurrency": 5, "inputTokens": {"mean": 1}}},
            "spec.workload.outputTokens",
            "required",
        ),
        (
            {
                "workload": {
                    "peakConcurrency": 5,
                    "inputTokens": {"distribution": "Uniform", "min": 9},
                    "outputTokens": {"mean": 1},
                }
            },
            "spec.workload.inputTokens",
            "Uniform needs max; set it, e.g. min: 100, max: 300",
        ),
        ({"slo": {"goodputPercent": 90}}, "spec.slo", "at least one"),
        ({"levelDurationSeconds": 60}, "spec", "exactly one of requestsPerLevel"),
        ({"search": {"mode": "Levels"}}, "spec.search.levels", "needs levels"),
        ({"search": {"mode": "Levels", "levels": [8, 4]}}, "spec.search.levels", "sorted"),
        ({"search": {"levels": [4, 8]}}, "spec.search.levels", "only used with mode Levels"),
        (
            {
                "target": {
                    "serviceRef": {"name": "v", "port": 1},
                    "url": "http://x:1",
                    "deploymentRef": {"name": "v"},
                }
            },
            "spec.target",
            "exactly one of serviceRef and url",
        ),
    ],
)
def test_problems(overrides: dict[str, Any], field: str, message: str) -> None:
    problems = validate_capacity_spec(make_spec(**overrides))
    assert any(p.field == field and message in p.message and p.reason == "InvalidSpec" for p in problems), (
        problems
    )


def _tokens(input_tokens: dict[str, Any]) -> dict[str, Any]:
    return {"workload": {"peakConcurrency": 5, "inputTokens": input_tokens, "outputTokens": {"mean": 64}}}


@pytest.mark.parametrize(
    ("input_tokens", "message"),
    [
        # Accepted before (the children then failed in their pods: loadgen refused stddev 0).
        (
            {"distribution": "Normal", "mean": 256, "stddev": 0},
            "Normal needs stddev above 0; for one length for every request use distribution: Fixed with mean: 256",
        ),
        # Refused before only through a child's validation, after every other problem was fixed.
        (
            {"distribution": "Normal", "mean": 256, "stddev": 5, "max": 100},
            "mean (256) is above max (100); the mean must lie within [min, max]: move mean or widen the bounds",
        ),
        (
            {"mean": 256, "stddev": 5},
            "Fixed does not use stddev; remove it, or set distribution to Normal, which uses it",
        ),
        ({"distribution": "Fixed"}, "Fixed needs mean; set it, e.g. mean: 512"),
    ],
)  # fmt: skip
def test_token_distributions_follow_the_loadtest_rules(input_tokens: dict[str, Any], message: str) -> None:
    (problem,) = validate_capacity_spec(make_spec(**_tokens(input_tokens)))
    assert (problem.reason, problem.field, problem.message) == (
        CapacityReason.INVALID_SPEC,
        "spec.workload.inputTokens",
        message,
    )


def test_from_prometheus_needs_no_tokens_or_peak() -> None:
    spec = make_spec(workload={"fromPrometheus": {"windowSeconds": 86_400}})
    assert validate_capacity_spec(spec) == []


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"cost": {"pricePerGpuHour": "2,50"}}, "spec.cost.pricePerGpuHour"),
        ({"cost": {"pricePerGpuHour": "-1"}}, "spec.cost.pricePerGpuHour"),
        ({"cost": {"pricePerGpuHour": "2.5", "currency": "usd"}}, "spec.cost.currency"),
        ({"repeats": 0}, "spec.repeats"),
        ({"target": {"serviceRef": {"name": "vllm", "port": 8000}}}, "spec.target.deploymentRef"),
        ({"search": {"mode": "Sometimes"}}, "spec.search.mode"),
    ],
)
def test_schema_problems_are_reported_not_raised(overrides: dict[str, Any], loc: str) -> None:
    spec, problems = parse_capacity_spec(raw_spec(**overrides))
    assert spec is None
    assert [p.field for p in problems] == [loc]


def test_what_a_child_loadtest_would_refuse_is_refused_up_front() -> None:
    spec = make_spec(
        target={"url": "http://vllm.example:8000", "deploymentRef": {"name": "vllm"}},
        loadGenerator={"placement": "SameNode"},
    )
    (problem,) = validate_capacity_spec(spec)
    assert problem.field == "spec.loadGenerator.placement"
    assert "in the child LoadTests" in problem.message
    assert validate_capacity_spec(make_spec(loadGenerator={"parallelism": 2, "minSucceededShards": 3}))


def test_children_of_any_request_count_are_accepted() -> None:
    # A shard's result is bounded by its histograms, not its requests: the child of ten million is fine.
    assert validate_capacity_spec(make_spec(requestsPerLevel=10_000_000)) == []
