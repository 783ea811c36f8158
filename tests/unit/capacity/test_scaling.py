"""Which Deployment a CapacityRecommendation may scale, and to how many replicas (pure)."""

from typing import Any

import pytest

from loadtest_operator.api.conditions import CapacityReason
from loadtest_operator.capacity.scaling import backs_target, deployment_selector_matches, scale_decision

LABELS = {"app": "vllm", "tier": "serve"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({"matchLabels": {"app": "vllm"}}, True),
        ({"matchLabels": {"app": "other"}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["serve", "batch"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["serve"]}]}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Sideways"}]}, False),
        ({}, False),
    ],
)
def test_selector_matches(selector: dict[str, Any], matches: bool) -> None:
    assert deployment_selector_matches(selector, LABELS) is matches


def test_a_deployment_backs_the_target_when_it_selects_one_of_its_pods() -> None:
    pods = [{"metadata": {"labels": {"app": "other"}}}, {"metadata": {"labels": LABELS}}]
    assert backs_target({"spec": {"selector": {"matchLabels": {"app": "vllm"}}}}, pods)
    assert not backs_target({"spec": {"selector": {"matchLabels": {"app": "vllm"}}}}, pods[:1])


LABELLED = {"metadata": {"labels": {"llmload.io/allow-loadtest": "true"}}}


@pytest.mark.parametrize(
    ("recommended", "cap", "deployment", "webhook", "replicas", "reason"),
    [
        (3, 10, {}, True, 3, CapacityReason.SCALED),
        (12, 10, {}, True, 10, CapacityReason.SCALE_CAPPED),
        (3, 10, {}, False, None, CapacityReason.SCALE_REFUSED),
        (3, 10, LABELLED, False, 3, CapacityReason.SCALED),
        (3, None, {}, True, None, CapacityReason.SCALE_REFUSED),
    ],
)
def test_scale_decision(
    recommended: int,
    cap: int | None,
    deployment: dict[str, Any],
    webhook: bool,
    replicas: int | None,
    reason: str,
) -> None:
    choice = scale_decision("vllm", recommended, cap, deployment, webhook=webhook)
    assert (choice.replicas, choice.reason) == (replicas, reason)
    assert choice.refused is (replicas is None)
