"""Deployment facts from plain dicts: tensor parallel size, GPUs per replica, GPU model, readiness."""

from typing import Any

import pytest

from loadtest_operator.capacity.deployment import (
    check_deployment,
    deployment_facts,
    gpu_model,
    gpus_per_replica,
    tensor_parallel_size,
    tensor_parallel_size_from_args,
    vllm_container,
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], 1),
        (["--model", "m"], 1),
        (["--tensor-parallel-size", "4"], 4),
        (["--tensor-parallel-size=2"], 2),
        (["-tp", "8"], 8),
        (["-tp=2"], 2),
        (["--tensor_parallel_size", "2"], 2),
        (["vllm", "serve", "m", "-tp", "2", "--tensor-parallel-size", "4"], 4),  # the last one wins
        (["sh", "-c", "exec vllm serve meta/llama --tensor-parallel-size 2 --port 8000"], 2),
        (["--tensor-parallel-size"], 1),  # no value: vLLM would refuse; we keep its default
        (["--tensor-parallel-size", "two"], 1),
        (["--tensor-parallel-size", "0"], 1),
        (["--tensor-parallel-sizes", "4"], 1),  # a different flag
        (["--pipeline-parallel-size", "2"], 1),
    ],
)
def test_tensor_parallel_size_from_args(args: list[str], expected: int) -> None:
    assert tensor_parallel_size_from_args(args) == expected


def deployment(containers: list[dict[str, Any]], **status: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "vllm"},
        "spec": {"replicas": status.pop("replicas", 2), "template": {"spec": {"containers": containers}}},
        "status": status,
    }


VLLM = {
    "name": "server",
    "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
    "args": ["--model", "m", "-tp", "2"],
    "resources": {"limits": {"nvidia.com/gpu": "2", "memory": "64Gi"}},
}
SIDECAR = {"name": "proxy", "args": ["--tensor-parallel-size", "8"], "resources": {"limits": {"cpu": "1"}}}


def test_the_vllm_container_is_found_beside_sidecars() -> None:
    dep = deployment([SIDECAR, VLLM], readyReplicas=2, updatedReplicas=2)
    assert vllm_container(dep["spec"]["template"]["spec"]) == VLLM
    assert tensor_parallel_size(dep) == 2
    assert gpus_per_replica(dep) == 2


def test_container_named_vllm_wins_and_requests_count_without_limits() -> None:
    named = {"name": "vllm", "args": ["-tp", "4"], "resources": {"requests": {"nvidia.com/gpu": 4}}}
    dep = deployment([VLLM, named])
    assert tensor_parallel_size(dep) == 4
    assert gpus_per_replica(dep) == 6  # a replica holds every container's GPUs


def test_no_containers_and_no_gpus() -> None:
    assert tensor_parallel_size(deployment([])) == 1
    assert gpus_per_replica(deployment([{"name": "cpu"}])) == 0


def test_gpu_model_from_node_labels() -> None:
    def node(product: str | None) -> dict[str, Any]:
        labels = {"nvidia.com/gpu.product": product} if product else {}
        return {"metadata": {"labels": labels}}

    assert (
        gpu_model([node("NVIDIA-H100-80GB-HBM3"), node("NVIDIA-H100-80GB-HBM3")]) == "NVIDIA-H100-80GB-HBM3"
    )
    assert gpu_model([node("B"), node("A"), node(None)]) == "A, B"
    assert gpu_model([node(None)]) is None
    assert gpu_model([]) is None


def test_deployment_facts() -> None:
    facts = deployment_facts(
        deployment([VLLM], readyReplicas=2, updatedReplicas=2),
        [{"metadata": {"labels": {"nvidia.com/gpu.product": "L4"}}}],
    )
    assert (facts.current_replicas, facts.gpus_per_replica, facts.tensor_parallel_size, facts.gpu_model) == (
        2,
        2,
        2,
        "L4",
    )


@pytest.mark.parametrize(
    ("dep", "message"),
    [
        (None, "not found"),
        (deployment([VLLM], replicas=2), "no ready replica"),
        (deployment([VLLM], replicas=2, readyReplicas=1, updatedReplicas=2), "not settled"),
        (deployment([VLLM], replicas=2, readyReplicas=2, updatedReplicas=1), "not settled"),
    ],
)
def test_check_deployment_problems(dep: dict[str, Any] | None, message: str) -> None:
    (problem,) = check_deployment("vllm", dep)
    assert problem.reason == "TargetUnavailable"
    assert message in problem.message
    assert problem.field == "spec.target.deploymentRef"


def test_settled_deployment_has_no_problem() -> None:
    assert check_deployment("vllm", deployment([VLLM], replicas=2, readyReplicas=2, updatedReplicas=2)) == []
