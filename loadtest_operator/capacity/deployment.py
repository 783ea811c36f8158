"""Facts about the Deployment being sized, from objects the handler has fetched (plain dicts).

- tensor parallel size: `--tensor-parallel-size N`, `--tensor-parallel-size=N`, `-tp N`, `-tp=N` (and
  vLLM's underscore spelling `--tensor_parallel_size`) in the vLLM container's command or args, also
  inside a `sh -c "vllm serve ..."` string; 1 when absent (vLLM's default).
- GPUs per replica: `nvidia.com/gpu` of the pod template's containers (limits, else requests: the API
  server defaults extended-resource requests from limits, and the two must be equal).
- GPU model: the `nvidia.com/gpu.product` label of the nodes running the ready pods.
- current replicas: the Deployment's `status.readyReplicas` (what the Service spread the load over).
"""

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest_operator.api.conditions import CapacityReason
from loadtest_operator.core.problems import Problem
from loadtest_operator.loadtest.target import GPU_PRODUCT_LABEL, GPU_RESOURCE

_TP_FLAGS = ("--tensor-parallel-size", "--tensor_parallel_size", "-tp")


def _words(values: Iterable[Any]) -> list[str]:
    """Command/args as words; a shell string (`sh -c "vllm serve m -tp 2"`) is split like a shell would."""
    words: list[str] = []
    for value in values:
        text = str(value)
        if any(ch.isspace() for ch in text):
            try:
                words += shlex.split(text)
            except ValueError:
                words += text.split()
        else:
            words.append(text)
    return words


def tensor_parallel_size_from_args(args: Sequence[Any]) -> int:
    """The tensor parallel size in a vLLM command line; 1 when the flag is absent or unreadable. The last
    occurrence wins, as with argparse."""
    words = _words(args)
    size = 1
    for index, word in enumerate(words):
        flag, equals, inline = word.partition("=")
        if flag not in _TP_FLAGS:
            continue
        value = inline if equals else (words[index + 1] if index + 1 < len(words) else "")
        if value.isdigit() and int(value) >= 1:
            size = int(value)
    return size


def _containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(pod_spec.get("containers") or [])


def _container_gpus(container: Mapping[str, Any]) -> int:
    resources = container.get("resources") or {}
    amount = (resources.get("limits") or {}).get(GPU_RESOURCE)
    if amount is None:
        amount = (resources.get("requests") or {}).get(GPU_RESOURCE)
    try:
        return int(str(amount)) if amount is not None else 0
    except ValueError:
        return 0


def vllm_container(pod_spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The container running vLLM: one named vllm, else one whose command mentions vllm, else the first
    holding GPUs, else the first."""
    containers = _containers(pod_spec)
    for container in containers:
        if container.get("name") == "vllm":
            return container
    for container in containers:
        if any(
            "vllm" in w for w in _words([*(container.get("command") or []), *(container.get("args") or [])])
        ):
            return container
    for container in containers:
        if _container_gpus(container) > 0:
            return container
    return containers[0] if containers else None


def _pod_spec(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec


def tensor_parallel_size(deployment: Mapping[str, Any]) -> int:
    container = vllm_container(_pod_spec(deployment))
    if container is None:
        return 1
    return tensor_parallel_size_from_args([*(container.get("command") or []), *(container.get("args") or [])])


def gpus_per_replica(deployment: Mapping[str, Any]) -> int:
    """nvidia.com/gpu of one replica: the sum over the pod template's containers."""
    return sum(_container_gpus(c) for c in _containers(_pod_spec(deployment)))


def ready_replicas(deployment: Mapping[str, Any]) -> int:
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)


def gpu_model(nodes: Iterable[Mapping[str, Any]]) -> str | None:
    """The GPU product of `nodes` (the nodes of the ready pods); several products are joined with ", "."""
    products = sorted(
        {
            str(labels[GPU_PRODUCT_LABEL])
            for node in nodes
            if GPU_PRODUCT_LABEL in (labels := (node.get("metadata") or {}).get("labels") or {})
        }
    )
    return ", ".join(products) or None


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    current_replicas: int
    gpus_per_replica: int
    tensor_parallel_size: int
    gpu_model: str | None


def deployment_facts(deployment: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]) -> DeploymentFacts:
    return DeploymentFacts(
        current_replicas=ready_replicas(deployment),
        gpus_per_replica=gpus_per_replica(deployment),
        tensor_parallel_size=tensor_parallel_size(deployment),
        gpu_model=gpu_model(nodes),
    )


def check_deployment(name: str, deployment: Mapping[str, Any] | None) -> list[Problem]:
    """TargetUnavailable problems: missing, no ready replica, or a rollout in progress (the replicas
    measured would not be the replicas sized)."""
    field = "spec.target.deploymentRef"
    if deployment is None:
        return [
            Problem(
                CapacityReason.TARGET_UNAVAILABLE, f"Deployment {name} not found in this namespace", field
            )
        ]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1) or 0)
    ready = ready_replicas(deployment)
    if ready < 1:
        return [Problem(CapacityReason.TARGET_UNAVAILABLE, f"Deployment {name} has no ready replica", field)]
    updated = int(status.get("updatedReplicas") or 0)
    if ready != wanted or updated != wanted:
        return [
            Problem(
                CapacityReason.TARGET_UNAVAILABLE,
                f"Deployment {name} is not settled ({ready} ready, {updated} updated of {wanted}); "
                "measuring waits for the rollout to finish",
                field,
            )
        ]
    return []
