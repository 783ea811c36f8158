"""GPU and vLLM figures per level, found in a real Prometheus without naming any series in the spec.

The local node runs Debian's Prometheus, scraping pods annotated prometheus.io/scrape the way
kube-prometheus does (target labels namespace/pod, honor_labels false). A DCGM stand-in pod exports
dcgm-exporter's exact series for one GPU mapped to the mock vLLM pod, with power and utilisation
following the mock's running requests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Cluster, hack_vars, use_existing_cluster, wait_until
from tests.e2e.manifests import dcgm_exporter_pod
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_loadtest import condition, loadtest, mock_vllm, wait_finished

__all__ = ["mock_vllm"]  # a fixture, imported for its use below


@pytest.fixture(scope="module")
def prometheus_url() -> str:
    if use_existing_cluster():
        url = os.environ.get("LLMLOAD_PROMETHEUS_URL")
        if not url:
            pytest.fail("set LLMLOAD_PROMETHEUS_URL to a Prometheus that scrapes the test namespaces' pods")
        return url
    return hack_vars("PROMETHEUS_URL")["PROMETHEUS_URL"]


@pytest.fixture
def dcgm_exporter(cluster: Cluster, namespace: str, mock_vllm: str, prometheus_url: str) -> str:
    """Starts the DCGM stand-in; returns the name of the vLLM pod its GPU is mapped to."""
    vllm_pod = cluster.get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/instance=mock-vllm")[
        "items"
    ][0]
    node = vllm_pod["spec"]["nodeName"]
    cluster.apply(dcgm_exporter_pod("dcgm-exporter", cluster.mock_image, node, vllm_pod), namespace)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/dcgm-exporter", "-n", namespace, "--timeout=60s")

    def scraped() -> bool:
        query = f'DCGM_FI_DEV_GPU_UTIL{{exported_namespace="{namespace}"}}'
        body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=5).json()
        return bool(body["data"]["result"])

    wait_until(scraped, timeout=60, what="Prometheus to scrape the DCGM stand-in")
    return str(vllm_pod["metadata"]["name"])


def dead_prometheus() -> str:
    """Nothing listens on port 9 of the bridge address: a Prometheus that is down."""
    return f"http://{hack_vars('BRIDGE_IP')['BRIDGE_IP']}:9"


@pytest.fixture
def operator(
    cluster: Cluster, namespace: str, tmp_path: Path, prometheus_url: str
) -> Iterator[OperatorProcess]:
    # The outage test names a Prometheus of its own in the spec: the platform team allows it (docs/security.md).
    op = OperatorProcess(
        cluster, namespace, tmp_path, prometheus_url=prometheus_url, allowed_prometheus_urls=dead_prometheus()
    )
    op.start()
    yield op
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail()}")


def gpu_loadtest(name: str, **overrides: Any) -> dict[str, Any]:
    # Levels long enough for several 1 s scrapes each.
    return loadtest(name, load={"levels": [2, 8], "requestsPerLevel": 120}, **overrides)


def test_status_carries_gpu_and_vllm_figures_per_level_found_automatically(
    cluster: Cluster, namespace: str, operator: OperatorProcess, dcgm_exporter: str
) -> None:
    vllm_pod = dcgm_exporter
    # The loadgen pod and the mock share a busy node: the latency means may differ by scheduling noise.
    validation = {"tolerancePercent": 5, "latencyToleranceMilliseconds": 50}
    cluster.apply(gpu_loadtest("gpu", validation=validation), namespace)

    lt = wait_finished(cluster, namespace, "gpu", timeout=240)

    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    available = condition(lt, "GpuMetricsAvailable")
    assert available is not None
    assert (available["status"], available["reason"]) == ("True", "MetricsCollected"), available
    discovery = lt["status"]["gpuDiscovery"]
    assert discovery["matchedBy"] == "ExportedPodLabels"
    assert discovery["gpuModels"] == ["NVIDIA A100-SXM4-80GB"]
    assert discovery["gpuCount"] == 1
    assert discovery["serverPods"] == [vllm_pod]
    low, high = lt["status"]["levels"]
    for level in (low, high):
        gpu, server = level["gpu"], level["server"]
        assert gpu["gpuCount"] == 1
        assert gpu["powerWattsMean"] > 0
        assert gpu["energyJoules"] > 0
        assert gpu["joulesPer1kOutputTokens"] > 0
        assert server["requestsRunningMean"] > 0
    # The stand-in's power and utilisation follow the running requests: more load, more of both.
    assert high["gpu"]["utilizationPercentMean"] > low["gpu"]["utilizationPercentMean"]
    assert high["gpu"]["powerWattsMean"] > low["gpu"]["powerWattsMean"]
    assert high["server"]["requestsRunningMean"] > low["server"]["requestsRunningMean"]
    # Every level's client figures checked against the mock's vLLM series, each count inside (or within
    # the tolerance of) vLLM's exact bracket.
    for level in (low, high):
        checks = {c["name"]: c for c in level["validation"]["checks"]}
        assert set(checks) == {"TtftMean", "E2eMean", "CompletedRequests", "OutputTokens", "PromptTokens"}
        assert checks["CompletedRequests"]["client"] == 120
        assert all(c["passed"] for c in checks.values()), checks
        assert checks["CompletedRequests"]["serverMin"] <= 120
        assert level["validation"]["tolerancePercent"] == 5
        print(f"\nlevel {level['level']} checks: {level['validation']['checks']}")
    agreement = condition(lt, "ServerAgreement")
    assert agreement is not None
    assert (agreement["status"], agreement["reason"]) == ("True", "ChecksPassed"), agreement
    assert lt["status"]["validation"] == {"tolerancePercent": 5, "checks": 10, "failed": 0}
    # What was measured: the mock's GET /version, its container's options, the node, the GPU's driver.
    fingerprint = lt["status"]["fingerprint"]
    assert fingerprint["vllmVersion"] == "0.0.0+mock"
    (serving,) = fingerprint["serving"]
    assert serving["pods"] == [vllm_pod]
    assert serving["model"] == "e2e-model"
    assert serving["image"] == cluster.mock_image
    assert fingerprint["consistent"] is True
    assert fingerprint["nodes"] == [cluster.get_json("pods", "-n", namespace, vllm_pod)["spec"]["nodeName"]]
    assert fingerprint["gpuModels"] == ["NVIDIA A100-SXM4-80GB"]
    assert fingerprint["driverVersions"] == ["550.54.15"]  # the stand-in's DCGM_FI_DRIVER_VERSION


def test_prometheus_outage_never_fails_the_loadtest(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(
        loadtest(
            "noprom", load={"levels": [2], "requestsPerLevel": 10}, prometheus={"url": dead_prometheus()}
        ),
        namespace,
    )

    lt = wait_finished(cluster, namespace, "noprom")

    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    available = condition(lt, "GpuMetricsAvailable")
    assert available is not None
    assert (available["status"], available["reason"]) == ("False", "PrometheusUnreachable"), available
    assert lt["status"]["levels"][0]["successes"] == 10
