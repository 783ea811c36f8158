"""LoadTest end to end on the real node: the operator (a local process here, watching only the test's
namespace), shard Jobs placed by the real scheduler, the mock vLLM server behind a real Service, results
in status and in the SQL store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest_operator.core.owner import Owner
from loadtest_operator.io.store import create_store_engine, list_level_results, list_runs
from loadtest_operator.loadtest.builders.names import run_names
from tests.e2e.harness import Cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess

MOCK_TTFT_MS = 40.0
MOCK_ITL_MS = 8.0


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    op = OperatorProcess(cluster, namespace, tmp_path, unschedulable_grace_seconds="3")
    op.start()
    yield op
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail()}")


@pytest.fixture
def mock_vllm(cluster: Cluster, namespace: str) -> str:
    args = ["--model", "e2e-model", "--ttft-ms", str(MOCK_TTFT_MS), "--itl-ms", str(MOCK_ITL_MS)]
    cluster.apply(mock_vllm_deployment("mock-vllm", cluster.mock_image, gpus=1, args=args), namespace)
    cluster.apply(service("mock-vllm", {"app.kubernetes.io/instance": "mock-vllm"}), namespace)
    cluster.kubectl(
        "rollout", "status", "deployment/mock-vllm", "-n", namespace, "--timeout=90s", timeout=100
    )
    return "mock-vllm"


def loadtest(name: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"serviceRef": {"name": "mock-vllm", "port": 8000}, "api": "Chat"},
        "workload": {
            "inputTokens": {"distribution": "Fixed", "mean": 32},
            "outputTokens": {"distribution": "Fixed", "mean": 16},
        },
        "load": {"mode": "Concurrency", "levels": [2, 4], "requestsPerLevel": 40, "timeoutSeconds": 30},
        "slo": {"ttftMilliseconds": 1000, "tpotMilliseconds": 200, "percentile": 90},
        "loadGenerator": {
            "parallelism": 2,
            "placement": "SameNode",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        },
    }
    for key, value in overrides.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return {"apiVersion": "llmload.io/v1alpha1", "kind": "LoadTest", "metadata": {"name": name}, "spec": spec}


def get_lt(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.get_json("loadtest", name, "-n", namespace)


def condition(lt: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in lt.get("status", {}).get("conditions", []) if c["type"] == type_), None)


def wait_finished(cluster: Cluster, namespace: str, name: str, timeout: float = 180) -> dict[str, Any]:
    def finished() -> bool:
        cond = condition(get_lt(cluster, namespace, name), "Succeeded")
        return cond is not None and cond["status"] != "Unknown"

    wait_until(finished, timeout, f"LoadTest {name} to finish")
    return get_lt(cluster, namespace, name)


def test_loadtest_succeeds_with_per_level_results_that_match_the_mock(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(loadtest("sweep"), namespace)

    lt = wait_finished(cluster, namespace, "sweep")

    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    status = lt["status"]
    assert status["phase"] == "Succeeded"
    assert status["target"]["model"] == "e2e-model"
    assert [p["gpus"] for p in status["target"]["pods"]] == [1]
    assert status["target"]["gpuModels"] == ["NVIDIA-A100-SXM4-80GB"]
    assert [lv["level"] for lv in status["levels"]] == [2, 4]
    for level in status["levels"]:
        assert level["requests"] == 40
        assert level["successes"] == 40
        # The mock sleeps MOCK_TTFT_MS before the first token and MOCK_ITL_MS between tokens; the
        # client adds its own overhead on a busy 2-core machine, never less than the mock's sleep.
        assert MOCK_TTFT_MS <= level["ttft"]["p50"] < MOCK_TTFT_MS + 40, level["ttft"]
        assert MOCK_ITL_MS * 0.9 <= level["itl"]["mean"] < MOCK_ITL_MS + 6, level["itl"]
        assert level["goodput"]["percent"] == 100.0
        assert level["withinSlo"] is True
    assert status["bestGoodputLevel"] == 4
    assert status["progress"]["completedRequests"] == 80

    jobs = cluster.get_json("jobs", "-n", namespace, "-l", "llmload.io/loadtest=sweep")["items"]
    assert len(jobs) == 2
    affinity = jobs[0]["spec"]["template"]["spec"]["affinity"]["podAffinity"]
    term = affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/instance": "mock-vllm"}

    engine = create_store_engine(str(operator.sqlite_path))
    runs = list_runs(engine)
    assert [(r.name, r.status) for r in runs] == [("sweep", "Succeeded")]
    rows = list_level_results(engine, runs[0].loadtest_uid, 0)
    assert [(r.level, r.requests) for r in rows] == [(2, 40), (4, 40)]

    events = cluster.get_json("events", "-n", namespace, "--field-selector", "involvedObject.name=sweep")
    assert {"Started", "Running", "Completed"} <= {e["reason"] for e in events["items"]}


def test_semantically_invalid_spec_is_refused_with_a_message_and_no_jobs(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(loadtest("unsorted", load={"levels": [8, 2]}), namespace)

    wait_until(
        lambda: condition(get_lt(cluster, namespace, "unsorted"), "Accepted") is not None,
        timeout=60,
        what="the Accepted condition",
    )

    lt = get_lt(cluster, namespace, "unsorted")
    accepted = condition(lt, "Accepted")
    assert accepted is not None
    assert accepted["status"] == "False"
    assert "levels" in accepted["message"]
    assert "ascending" in accepted["message"]
    assert lt["status"]["phase"] == "Rejected"
    assert cluster.get_json("jobs", "-n", namespace)["items"] == []


def test_missing_service_is_refused_naming_the_service(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        loadtest("nosvc", target={"serviceRef": {"name": "does-not-exist", "port": 8000}}), namespace
    )

    wait_until(
        lambda: condition(get_lt(cluster, namespace, "nosvc"), "Accepted") is not None,
        timeout=60,
        what="the Accepted condition",
    )

    accepted = condition(get_lt(cluster, namespace, "nosvc"), "Accepted")
    assert accepted is not None
    assert accepted["reason"] == "ServiceNotFound"
    assert "does-not-exist" in accepted["message"]


def test_unschedulable_shard_fails_the_run_with_the_schedulers_message(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    too_big = {"parallelism": 1, "resources": {"requests": {"cpu": "64"}, "limits": {"memory": "256Mi"}}}
    cluster.apply(loadtest("toobig", loadGenerator=too_big, load={"levels": [1]}), namespace)

    lt = wait_finished(cluster, namespace, "toobig", timeout=90)

    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "False"
    assert succeeded["reason"] == "Unschedulable"
    assert "Insufficient cpu" in succeeded["message"]


def test_deleted_shard_job_fails_the_run(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(loadtest("victim", load={"levels": [2], "requestsPerLevel": 80000}), namespace)
    wait_until(
        lambda: len(cluster.get_json("jobs", "-n", namespace)["items"]) == 2,
        timeout=60,
        what="the shard Jobs",
    )
    job = cluster.get_json("jobs", "-n", namespace, "-l", "llmload.io/shard=1")["items"][0]["metadata"][
        "name"
    ]

    cluster.kubectl("delete", "job", job, "-n", namespace)

    lt = wait_finished(cluster, namespace, "victim", timeout=60)
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "False"
    assert succeeded["reason"] == "ShardDeleted"
    # The surviving shard is stopped rather than left loading the server for nothing.
    wait_until(
        lambda: cluster.get_json("jobs", "-n", namespace)["items"] == [],
        timeout=60,
        what="the other shard's Job to be deleted",
    )


def test_operator_killed_mid_run_completes_the_run_once(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(loadtest("restart", load={"levels": [2, 4], "requestsPerLevel": 150}), namespace)
    wait_until(
        lambda: get_lt(cluster, namespace, "restart").get("status", {}).get("progress", {}).get(
            "completedRequests", 0) > 0,
        timeout=90,
        what="progress to be reported",
    )  # fmt: skip

    operator.kill()
    operator.start()

    lt = wait_finished(cluster, namespace, "restart")
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    assert [lv["requests"] for lv in lt["status"]["levels"]] == [150, 150]
    assert len(cluster.get_json("jobs", "-n", namespace)["items"]) == 2
    events = cluster.get_json("events", "-n", namespace, "--field-selector", "involvedObject.name=restart")
    started = [e for e in events["items"] if e["reason"] == "Started"]
    assert sum(e.get("count", 1) for e in started) == 1
    engine = create_store_engine(str(operator.sqlite_path))
    assert len(list_runs(engine)) == 1


def test_deleting_the_loadtest_removes_its_children_and_keeps_history(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(loadtest("shortlived", load={"levels": [2], "requestsPerLevel": 10}), namespace)
    wait_finished(cluster, namespace, "shortlived")
    owned = "llmload.io/loadtest=shortlived"
    assert cluster.get_json("configmaps", "-n", namespace, "-l", owned)["items"]

    cluster.kubectl("delete", "loadtest", "shortlived", "-n", namespace)

    def children_gone() -> bool:
        jobs = cluster.get_json("jobs", "-n", namespace, "-l", owned)["items"]
        cms = cluster.get_json("configmaps", "-n", namespace, "-l", owned)["items"]
        return not jobs and not cms

    wait_until(
        children_gone, timeout=60, what="the garbage collector to delete the run's Jobs and ConfigMaps"
    )
    engine = create_store_engine(str(operator.sqlite_path))
    assert [r.name for r in list_runs(engine)] == ["shortlived"]


def test_status_is_explainable_and_printer_columns_show_the_outcome(cluster: Cluster) -> None:
    explain = cluster.kubectl("explain", "loadtest.spec.load.levels").stdout
    assert "Sorted ascending" in explain
    columns = json.loads(cluster.kubectl("get", "crd", "loadtests.llmload.io", "-o", "json").stdout)
    names = [c["name"] for c in columns["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert {"Target", "Model", "Succeeded", "Reason", "Age"} <= set(names)


def test_database_outage_loses_no_result(
    cluster: Cluster, namespace: str, mock_vllm: str, tmp_path: Path
) -> None:
    # Nothing listens on port 1: every write to the store fails at once.
    down = OperatorProcess(
        cluster, namespace, tmp_path / "down", database_url="postgresql+psycopg://x@127.0.0.1:1/x"
    )
    (tmp_path / "down").mkdir()
    down.start()
    try:
        cluster.apply(loadtest("nodb", load={"levels": [2], "requestsPerLevel": 10}), namespace)
        lt = wait_finished(cluster, namespace, "nodb")
    finally:
        down.stop()
        print(f"\n==== operator log (database down) ====\n{down.log_tail()}")
    succeeded, stored = condition(lt, "Succeeded"), condition(lt, "Stored")
    assert succeeded is not None
    assert succeeded["status"] == "True"
    assert stored is not None
    assert (stored["status"], stored["reason"]) == ("False", "DatabaseUnavailable")
    assert lt["status"]["levels"][0]["successes"] == 10

    up = OperatorProcess(cluster, namespace, tmp_path)
    up.start()
    try:
        wait_until(
            lambda: (condition(get_lt(cluster, namespace, "nodb"), "Stored") or {}).get("status") == "True",
            timeout=60,
            what="the run to reach the store once it is back",
        )
    finally:
        up.stop()
    engine = create_store_engine(str(up.sqlite_path))
    (run,) = list_runs(engine)
    assert (run.name, run.status) == ("nodb", "Succeeded")
    assert [r.requests for r in list_level_results(engine, run.loadtest_uid, 0)] == [10]


def test_a_deletion_while_the_operator_is_down_waits_and_the_documented_remedy_releases_it(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    """kopf's timers need a finalizer while an object has work left (a finished one rests without it);
    docs/operations.md says what happens when the operator is away and how to release the objects. Both
    hold here, for a run still loading the mock."""
    cluster.apply(loadtest("orphan", load={"levels": [2], "requestsPerLevel": 100_000}), namespace)
    wait_until(
        lambda: (
            "llmload.io/finalizer" in get_lt(cluster, namespace, "orphan")["metadata"].get("finalizers", [])
        ),
        30,
        "the operator's finalizer on the LoadTest",
    )
    operator.stop()
    cluster.kubectl("delete", "loadtest", "orphan", "-n", namespace, "--wait=false")
    held = get_lt(cluster, namespace, "orphan")
    assert held["metadata"]["deletionTimestamp"]

    # The remedy of docs/operations.md, for everything of both kinds in the namespace.
    names = cluster.kubectl("get", "loadtests,capacityrecommendations", "-n", namespace, "-o", "name").stdout
    for name in names.split():
        cluster.kubectl(
            "patch", name, "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
        )

    wait_until(
        lambda: cluster.kubectl("get", "loadtest", "orphan", "-n", namespace, check=False).returncode != 0,
        30,
        "the LoadTest to be deleted once released",
    )


def test_a_shard_pod_refused_by_a_resource_quota_fails_the_run_with_the_quota_message(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "tiny"},
            "spec": {"hard": {"requests.cpu": "1m"}},
        },
        namespace,
    )
    cluster.apply(loadtest("quota"), namespace)
    lt = wait_finished(cluster, namespace, "quota", timeout=90)

    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert (succeeded["status"], succeeded["reason"]) == ("False", "ShardPodRefused")
    assert "exceeded quota" in succeeded["message"]


def test_a_configmap_planted_under_the_runs_config_name_fails_the_run_unused(
    cluster: Cluster, namespace: str, operator: OperatorProcess, mock_vllm: str
) -> None:
    # Child names are predictable from the LoadTest's uid: someone with create rights on ConfigMaps plants
    # the run's config before the operator gets to it.
    operator.stop()
    cluster.apply(loadtest("planted"), namespace)
    body = get_lt(cluster, namespace, "planted")
    name = run_names(Owner.of(body), 0).run_config_map
    planted = {"run-config.json": json.dumps({"base_url": "http://198.18.0.250:8000", "levels": [1]})}
    cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": planted}, namespace
    )
    operator.start()

    def refused() -> bool:
        cond = condition(get_lt(cluster, namespace, "planted"), "Accepted")
        return cond is not None and cond["status"] == "False"

    wait_until(refused, timeout=60, what="the planted ConfigMap to be refused")
    lt = get_lt(cluster, namespace, "planted")
    accepted, succeeded = condition(lt, "Accepted"), condition(lt, "Succeeded")
    assert accepted is not None
    assert accepted["reason"] == "ChildNotOwned", accepted
    assert f"ConfigMap {name} already exists and is not owned by this LoadTest" in accepted["message"]
    assert succeeded is not None
    assert succeeded["status"] == "False"
    assert cluster.get_json("jobs", "-n", namespace)["items"] == []  # no shard ran the planted config
    assert cluster.get_json("configmap", name, "-n", namespace)["data"] == planted  # and it was not touched
