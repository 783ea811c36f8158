"""CapacityRecommendation end to end on the real node: the operator (a local process watching only the
test's namespace) searches for the knee of the mock vLLM server by creating child LoadTests, which run
as real shard Jobs against a real Service, and recommends replicas with the documented formula.

The mock runs its continuous-batching model: every engine step emits one token per running request and
takes STEP_BASE_MS + STEP_PER_SEQ_MS * running, so C concurrent users see TPOT = 10 + 4 * C ms. With an
SLO of TPOT ≤ 28 ms (half a step between two levels) the knee the model implies in closed form is
`batching_knee(...)` = 4 per replica (docs/capacity.md, "The mock's knee in closed form").
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest_operator.io.store import create_store_engine, list_recommendations
from mockservers.latency import batching_knee
from tests.e2e.harness import Cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess

STEP_BASE_MS, STEP_PER_SEQ_MS, MAX_RUNNING = 10.0, 4.0, 64
SLO_TPOT_MS = 28
KNEE = batching_knee(STEP_BASE_MS, STEP_PER_SEQ_MS, MAX_RUNNING, SLO_TPOT_MS)
PEAK = 10
HEADROOM_PERCENT = 20


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    op = OperatorProcess(cluster, namespace, tmp_path, unschedulable_grace_seconds="10")
    op.start()
    yield op
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail()}")


@pytest.fixture
def mock_vllm(cluster: Cluster, namespace: str) -> str:
    args = [
        "--model", "e2e-model", "--batching", "--step-ms-base", str(STEP_BASE_MS),
        "--step-ms-per-seq", str(STEP_PER_SEQ_MS), "--max-running", str(MAX_RUNNING),
    ]  # fmt: skip
    cluster.apply(mock_vllm_deployment("mock-vllm", cluster.mock_image, gpus=1, args=args), namespace)
    cluster.apply(service("mock-vllm", {"app.kubernetes.io/instance": "mock-vllm"}), namespace)
    cluster.kubectl(
        "rollout", "status", "deployment/mock-vllm", "-n", namespace, "--timeout=90s", timeout=100
    )
    return "mock-vllm"


def caprec(name: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {
            "serviceRef": {"name": "mock-vllm", "port": 8000},
            "api": "Chat",
            "deploymentRef": {"name": "mock-vllm"},
        },
        "workload": {
            "peakConcurrency": PEAK,
            "inputTokens": {"distribution": "Fixed", "mean": 32},
            "outputTokens": {"distribution": "Fixed", "mean": 40},
        },
        "slo": {"tpotMilliseconds": SLO_TPOT_MS, "percentile": 90, "goodputPercent": 90},
        "headroomPercent": HEADROOM_PERCENT,
        "search": {"mode": "Auto", "startLevel": 1, "maxLevels": 10},
        "requestsPerLevel": 20,
        "timeoutSeconds": 30,
        "cost": {"pricePerGpuHour": "2.50", "currency": "USD"},
        "loadGenerator": {
            "parallelism": 1,
            "placement": "SameNode",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        },
    }
    for key, value in overrides.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return {
        "apiVersion": "llmload.io/v1alpha1",
        "kind": "CapacityRecommendation",
        "metadata": {"name": name},
        "spec": spec,
    }


def get_cr(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.get_json("capacityrecommendation", name, "-n", namespace)


def ready(cr: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in cr.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)


def children(cluster: Cluster, namespace: str) -> dict[str, str]:
    """Child LoadTests: name → uid (a re-created child would keep its name and get a new uid)."""
    items = cluster.get_json("loadtests", "-n", namespace)["items"]
    return {lt["metadata"]["name"]: lt["metadata"]["uid"] for lt in items}


def finished_children(cluster: Cluster, namespace: str) -> dict[str, str]:
    items = cluster.get_json("loadtests", "-n", namespace)["items"]
    return {
        lt["metadata"]["name"]: lt["metadata"]["uid"]
        for lt in items
        if any(
            c["type"] == "Succeeded" and c["status"] != "Unknown"
            for c in lt.get("status", {}).get("conditions", [])
        )
    }


def wait_ready_settled(cluster: Cluster, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    def settled() -> bool:
        cond = ready(get_cr(cluster, namespace, name))
        return cond is not None and cond["status"] != "Unknown"

    wait_until(settled, timeout, f"CapacityRecommendation {name} to settle", interval=1)
    return get_cr(cluster, namespace, name)


def test_search_finds_the_knee_survives_a_restart_and_recommends_the_formulas_replicas(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(caprec("size"), namespace)

    # Mid-search: two measurements finished, the third created. Kill the operator without a goodbye.
    wait_until(
        lambda: len(finished_children(cluster, namespace)) >= 2, timeout=120, what="two finished levels"
    )
    operator.kill()
    before = children(cluster, namespace)
    finished_before = finished_children(cluster, namespace)
    operator.start()

    cr = wait_ready_settled(cluster, namespace, "size", timeout=240)

    cond = ready(cr)
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("True", "Recommended"), cond
    status = cr["status"]
    measured, recommendation = status["measured"], status["recommendation"]
    assert KNEE == 4
    assert measured["kneeLevel"] == KNEE, status["searchTrace"]
    assert measured["kneeIsLowerBound"] is False
    assert measured["currentReplicas"] == 1
    assert measured["gpusPerReplica"] == 1
    assert measured["maxConcurrencyPerReplicaAtSlo"] == KNEE
    # The formula: replicas = ceil(peak * (1 + headroom) / capacityPerReplica) = ceil(10 * 1.2 / 4) = 3.
    replicas = math.ceil(PEAK * (100 + HEADROOM_PERCENT) / 100 / KNEE)
    assert recommendation["replicas"] == replicas == 3
    assert recommendation["totalGpus"] == replicas
    assert recommendation["costPerHour"] == "7.50"
    assert "ceil(" in recommendation["formula"]
    assert recommendation["deploymentPatch"] == '{"spec":{"replicas":3}}'
    # Auto from 1: 1, 2, 4, 8 (miss), then bisection 6 (miss), 5 (miss): knee 4, each level once.
    trace = {e["level"]: e["withinSlo"] for e in status["searchTrace"]}
    assert trace == {1: True, 2: True, 4: True, 8: False, 6: False, 5: False}, status["searchTrace"]

    # The restart repeated nothing: every child that existed before it is the same object (same uid),
    # and there is exactly one child per level.
    after = children(cluster, namespace)
    assert len(finished_before) >= 2
    assert {n: after.get(n) for n in before} == before
    assert len(after) == len(trace) == len(status["children"])
    assert sorted(after) == sorted(status["children"])
    # The Deployment was left alone (scaleDeployment is false).
    deployment = cluster.get_json("deployment", "mock-vllm", "-n", namespace)
    assert deployment["spec"]["replicas"] == 1

    columns = cluster.kubectl("get", "caprec", "size", "-n", namespace).stdout.splitlines()
    header, row = columns[0].split(), columns[1].split()
    assert header[:7] == ["NAME", "TARGET", "PEAK", "REPLICAS", "GPUS", "COST/H", "READY"], columns
    assert row[:7] == ["size", "service/mock-vllm:8000", str(PEAK), "3", "3", "7.50", "True"], columns

    events = cluster.get_json("events", "-n", namespace, "--field-selector", "involvedObject.name=size")
    assert "Recommended" in {e["reason"] for e in events["items"]}

    rows = list_recommendations(create_store_engine(str(operator.sqlite_path)), namespace=namespace)
    assert [(r.name, r.replicas, r.knee_level, r.ready_reason) for r in rows] == [
        ("size", 3, KNEE, "Recommended")
    ]
    assert sorted(c["name"] for c in rows[0].children or []) == sorted(after)


def test_an_slo_nothing_meets_ends_slo_unreachable_naming_the_metric(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(caprec("hopeless", slo={"ttftMilliseconds": 5}, requestsPerLevel=5), namespace)

    cr = wait_ready_settled(cluster, namespace, "hopeless", timeout=120)

    cond = ready(cr)
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("False", "SloUnreachable"), cond
    assert "even level 1 misses the SLO" in cond["message"]
    assert "ttft p90" in cond["message"], cond["message"]
    assert "> 5 ms" in cond["message"], cond["message"]
    assert "recommendation" not in cr["status"]
    assert len(children(cluster, namespace)) == 1
    # Settled: the timer keeps ticking (every second here) but writes nothing more.
    version = cr["metadata"]["resourceVersion"]
    time.sleep(4)
    assert get_cr(cluster, namespace, "hopeless")["metadata"]["resourceVersion"] == version
