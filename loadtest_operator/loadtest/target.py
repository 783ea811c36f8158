"""Resolve a LoadTest's target from objects already fetched: Service → selector → pods → nodes → GPUs.

Pods are found through the Service's selector, not its Endpoints, so pods that are not ready yet still
show up (with their phase) in problems and status.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_operator.api import LoadTestSpec, Placement, ResolvedTarget, Target, TargetPod

GPU_RESOURCE = "nvidia.com/gpu"
# Set by NVIDIA's GPU feature discovery (and by the local node's stand-in).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


def target_display(target: Target) -> str:
    """Short form of a target (a LoadTest's or a CapacityRecommendation's) for `kubectl get`:
    service/<name>:<port> or the URL."""
    ref = target.service_ref
    if ref is not None:
        return f"service/{ref.name}:{ref.port}"
    return target.url or ""


def effective_placement(spec: LoadTestSpec) -> Placement:
    """Placement with its default applied: SameNode next to a Service's pods, Anywhere for a URL."""
    if spec.load_generator.placement is not None:
        return spec.load_generator.placement
    return Placement.SAME_NODE if spec.target.service_ref is not None else Placement.ANYWHERE


def service_selector(service: Mapping[str, Any]) -> dict[str, str]:
    """The Service's pod selector (empty when it has none)."""
    return dict((service.get("spec") or {}).get("selector") or {})


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """Running, Ready, and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def pod_gpus(pod: Mapping[str, Any]) -> int:
    """nvidia.com/gpu requested by the pod's containers (limits count when requests are absent, as the
    API server defaults extended-resource requests from limits)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        amount = (resources.get("requests") or {}).get(GPU_RESOURCE)
        if amount is None:
            amount = (resources.get("limits") or {}).get(GPU_RESOURCE)
        if amount is not None:
            total += int(str(amount))  # extended resources are whole numbers
    return total


def resolve_target(
    spec: LoadTestSpec,
    service: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    nodes: Mapping[str, Mapping[str, Any]],
) -> ResolvedTarget:
    """The target as status reports it. `nodes` maps node name to Node; missing nodes are tolerated.
    For a `url` target, `service` is None and `pods` empty. The model is the spec's (the handler fills in
    a model discovered from /v1/models with `model_copy`)."""
    ref = spec.target.service_ref
    if ref is None or service is None:
        return ResolvedTarget(
            display=target_display(spec.target), url=spec.target.url, model=spec.target.model
        )
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    target_pods = [
        TargetPod(
            name=str((pod.get("metadata") or {}).get("name", "")),
            node=(pod.get("spec") or {}).get("nodeName"),
            gpus=pod_gpus(pod),
        )
        for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", "")))
    ]
    products = set()
    for pod in target_pods:
        node = nodes.get(pod.node or "")
        label = ((node or {}).get("metadata") or {}).get("labels", {}).get(GPU_PRODUCT_LABEL)
        if label:
            products.add(str(label))
    return ResolvedTarget(
        display=target_display(spec.target),
        service_cluster_ip=cluster_ip,
        # No cluster DNS on every cluster (the local node has none): call the ClusterIP directly.
        url=f"http://{cluster_ip}:{ref.port}" if cluster_ip else None,
        model=spec.target.model,
        pods=target_pods,
        gpu_models=sorted(products),
    )
