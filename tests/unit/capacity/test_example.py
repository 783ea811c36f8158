"""The CapacityRecommendation example people copy is valid and targets the demo's mock deployment."""

from pathlib import Path

import yaml

from loadtest_operator.capacity.validation import parse_capacity_spec, validate_capacity_spec

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_example_is_a_valid_recommendation_for_the_demo_deployment() -> None:
    document = yaml.safe_load((EXAMPLES / "capacityrecommendation.yaml").read_text(encoding="utf-8"))
    demo = list(yaml.safe_load_all((EXAMPLES / "mock-vllm.yaml").read_text(encoding="utf-8")))
    names = {(d["kind"], d["metadata"]["name"]) for d in demo}

    spec, problems = parse_capacity_spec(document["spec"])

    assert (document["apiVersion"], document["kind"]) == ("llmload.io/v1alpha1", "CapacityRecommendation")
    assert problems == []
    assert spec is not None
    assert validate_capacity_spec(spec) == []
    assert spec.target.service_ref is not None
    assert ("Service", spec.target.service_ref.name) in names
    assert ("Deployment", spec.target.deployment_ref.name) in names
    assert spec.scale_deployment is False
