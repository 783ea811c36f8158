"""Pod affinity implementing spec.loadGenerator.placement."""

from collections.abc import Mapping
from typing import Any

from loadtest_operator.api import Placement

HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"

_TOPOLOGY_KEYS = {
    Placement.SAME_NODE: HOSTNAME_TOPOLOGY_KEY,
    Placement.SAME_ZONE: ZONE_TOPOLOGY_KEY,
}


def placement_affinity(placement: Placement, target_selector: Mapping[str, str]) -> dict[str, Any] | None:
    """The pod `affinity` for `placement` next to pods matching `target_selector` (the target Service's
    selector), or None for Anywhere.

    Required, not preferred: a load generator on the wrong side of the network would measure the network,
    so a placement that cannot be met must fail loudly (the pod stays unschedulable) rather than run.
    """
    if placement is Placement.ANYWHERE:
        return None
    if not target_selector:
        raise ValueError(f"placement {placement.value} needs the target pods' labels")
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": dict(sorted(target_selector.items()))},
                    "topologyKey": _TOPOLOGY_KEYS[placement],
                }
            ]
        }
    }
