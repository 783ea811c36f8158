"""Target resolution from fetched objects, and printer helpers."""

from typing import Any

import pytest

from loadtest_operator.api import Placement, TargetPod
from loadtest_operator.core.names import label_selector
from loadtest_operator.loadtest.target import (
    effective_placement,
    is_pod_ready,
    pod_gpus,
    resolve_target,
    service_selector,
    target_display,
)
from tests.unit.operator.specs import DELETE, make_spec

URL_TARGET = {"target": {"serviceRef": DELETE, "url": "http://10.1.2.3:8000"}}
SERVICE = {"spec": {"clusterIP": "198.19.0.10", "selector": {"app": "vllm", "tier": "serve"}, "ports": []}}


def gpu_pod(name: str, node: str, requests: Any = None, limits: Any = None) -> dict[str, Any]:
    resources = {}
    if requests is not None:
        resources["requests"] = {"nvidia.com/gpu": requests}
    if limits is not None:
        resources["limits"] = {"nvidia.com/gpu": limits}
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "vllm", "resources": resources}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


@pytest.mark.parametrize(
    ("pod", "gpus"),
    [
        (gpu_pod("a", "n", requests="2"), 2),
        (gpu_pod("a", "n", limits=1), 1),
        (gpu_pod("a", "n", requests="1", limits="1"), 1),
        (gpu_pod("a", "n"), 0),
        ({"metadata": {"name": "a"}}, 0),
    ],
)
def test_pod_gpus(pod: dict[str, Any], gpus: int) -> None:
    assert pod_gpus(pod) == gpus


def test_pod_gpus_sums_containers() -> None:
    pod = gpu_pod("a", "n", requests="1")
    pod["spec"]["containers"].append({"name": "sidecar", "resources": {"limits": {"nvidia.com/gpu": "2"}}})
    assert pod_gpus(pod) == 3


def test_resolve_service_target() -> None:
    pods = [gpu_pod("vllm-b", "node-2", requests="1"), gpu_pod("vllm-a", "node-1", requests="2")]
    nodes = {
        "node-1": {"metadata": {"labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}},
        "node-2": {"metadata": {"labels": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}}},
    }
    resolved = resolve_target(make_spec(), SERVICE, pods, nodes)
    assert resolved.display == "service/vllm:8000"
    assert resolved.url == "http://198.19.0.10:8000"
    assert resolved.service_cluster_ip == "198.19.0.10"
    assert resolved.model == "llama-3-8b"
    assert resolved.pods == [
        TargetPod(name="vllm-a", node="node-1", gpus=2),
        TargetPod(name="vllm-b", node="node-2", gpus=1),
    ]
    assert resolved.gpu_models == ["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3"]


def test_resolve_tolerates_unknown_nodes() -> None:
    resolved = resolve_target(make_spec(), SERVICE, [gpu_pod("p", "gone", requests="1")], {})
    assert resolved.gpu_models == []


def test_resolve_url_target() -> None:
    resolved = resolve_target(make_spec(URL_TARGET), None, [], {})
    assert resolved.url == "http://10.1.2.3:8000"
    assert resolved.display == "http://10.1.2.3:8000"
    assert resolved.pods is None


@pytest.mark.parametrize(
    ("patch", "placement"),
    [
        ({}, Placement.SAME_NODE),
        (URL_TARGET, Placement.ANYWHERE),
        ({"loadGenerator": {"placement": "SameZone"}}, Placement.SAME_ZONE),
        ({"loadGenerator": {"placement": "Anywhere"}}, Placement.ANYWHERE),
    ],
)
def test_effective_placement(patch: dict[str, Any], placement: Placement) -> None:
    assert effective_placement(make_spec(patch)) is placement


def test_selectors() -> None:
    assert service_selector(SERVICE) == {"app": "vllm", "tier": "serve"}
    assert service_selector({"spec": {}}) == {}
    assert label_selector({"tier": "serve", "app": "vllm"}) == "app=vllm,tier=serve"


def test_is_pod_ready() -> None:
    assert is_pod_ready(gpu_pod("a", "n"))
    assert not is_pod_ready({"status": {"phase": "Running"}})


def test_target_display() -> None:
    assert target_display(make_spec().target) == "service/vllm:8000"
    assert target_display(make_spec(URL_TARGET).target) == "http://10.1.2.3:8000"
