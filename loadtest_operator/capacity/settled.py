"""Whether a CapacityRecommendation has anything left to do, decided purely from the object itself.

At rest: this generation of the spec has reached an end that no tick would change, whatever the cluster
holds (the search is rebuilt from the children, which have all finished):

  - `Ready=True, Recommended`, unless spec.scaleDeployment (then every tick keeps the Deployment's
    replicas at the recommendation, so the object keeps its timer);
  - `Ready=False` with `SloUnreachable` (even the lowest level missed), `InvalidSpec` (the spec cannot
    be searched: only an edit changes that) or `StalledTooLong` (given up until the spec changes);

each for this very generation (status.observedGeneration and the condition's), with no failed tick
waiting to be healed (Stalled not True). Not at rest: searching, waiting for the Deployment, its pods
or Prometheus (the world may change without the object changing), and `ChildFailed`, which waits for the
user to delete the failed child LoadTest (an event of the child, not of this object).

The answer is a rest key (generation and reason) or None, as for LoadTests (loadtest/settled.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtest_operator.api import CapacityRecommendationStatus, ConditionStatus
from loadtest_operator.api.conditions import CapacityConditionType, CapacityReason
from loadtest_operator.capacity.validation import parse_capacity_spec
from loadtest_operator.core.conditions import find_condition, is_condition_true

R = CapacityReason
ENDED = frozenset({R.SLO_UNREACHABLE, R.INVALID_SPEC, R.STALLED_TOO_LONG})


def capacity_rest_key(body: Mapping[str, Any]) -> str | None:
    """The rest key of this CapacityRecommendation, or None while it has something left to do."""
    meta: Mapping[str, Any] = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    generation = int(meta.get("generation") or 0)
    try:
        status = CapacityRecommendationStatus.model_validate(body.get("status") or {})
    except ValueError:
        return None
    conditions = status.conditions or []
    ready = find_condition(conditions, CapacityConditionType.READY)
    if (
        ready is None
        or is_condition_true(conditions, CapacityConditionType.STALLED)
        or status.observed_generation != generation
        or ready.observed_generation != generation
    ):
        return None
    if ready.status is ConditionStatus.TRUE and ready.reason == R.RECOMMENDED:
        spec, _ = parse_capacity_spec(body.get("spec") or {})
        if spec is None or spec.scale_deployment:
            return None
        return f"{generation}/{ready.reason}"
    if ready.status is ConditionStatus.FALSE and ready.reason in ENDED:
        return f"{generation}/{ready.reason}"
    return None
