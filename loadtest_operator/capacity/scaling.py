"""Whether, and to how many replicas, a CapacityRecommendation with `scaleDeployment` scales its
Deployment (pure; docs/security.md).

- only a Deployment whose pods back the target: its selector matches at least one pod the target
  Service selects (a Deployment the target does not route to is never scaled);
- never above `spec.maxReplicas` (required with scaleDeployment): a recommendation above it is capped,
  and the `Scaled` condition says so;
- only when the author may scale it: the admission webhook checked that; where no webhook is installed,
  only a Deployment labelled llmload.io/allow-loadtest=true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest_operator.api.conditions import CapacityReason
from loadtest_operator.core.admission import opt_in_refusal, opted_in
from loadtest_operator.core.selectors import selector_matches


def deployment_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """An empty selector matches nothing here (a Deployment always has one, so an empty one is not a
    Deployment's), unlike the API server's rule for selectors in general."""
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return False
    return selector_matches(selector, labels)


def backs_target(deployment: Mapping[str, Any], target_pods: Sequence[Mapping[str, Any]]) -> bool:
    selector = (deployment.get("spec") or {}).get("selector") or {}
    return any(
        deployment_selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})
        for p in target_pods
    )


def not_behind_target(name: str, service: str) -> str:
    return (
        f"Deployment {name!r} does not back Service {service!r}: its selector matches none of the pods the "
        "Service routes to, so measuring the Service says nothing about it, and it is never scaled; name "
        "the Deployment whose pods the Service selects"
    )


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    replicas: int | None  # what to set; None: leave the Deployment alone
    reason: CapacityReason
    message: str
    refused: bool = False


def scale_decision(
    name: str,
    recommended: int,
    max_replicas: int | None,
    deployment: Mapping[str, Any] | None,
    *,
    webhook: bool,
    unreviewed: str | None = None,
) -> ScaleDecision:
    if max_replicas is None:  # validation refuses this; never scale without a cap
        return ScaleDecision(None, CapacityReason.SCALE_REFUSED, "spec.maxReplicas is required", True)
    if not webhook and not opted_in(deployment):
        field = "spec.target.deploymentRef"
        return ScaleDecision(
            None,
            CapacityReason.SCALE_REFUSED,
            opt_in_refusal("Deployment", name, field, unreviewed),
            refused=True,
        )
    if recommended > max_replicas:
        return ScaleDecision(
            max_replicas,
            CapacityReason.SCALE_CAPPED,
            f"the recommendation is {recommended} replicas, above spec.maxReplicas; Deployment {name} is "
            f"set to {max_replicas} (raise maxReplicas to allow more)",
        )
    return ScaleDecision(
        recommended, CapacityReason.SCALED, f"Deployment {name} set to {recommended} replicas"
    )
