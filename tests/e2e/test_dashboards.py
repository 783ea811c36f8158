"""Every PromQL expression of every board the chart ships returns data from the local node's real Prometheus,
after a LoadTest against the mock vLLM (continuous batching, a full batch queues, a few errors) with the DCGM
stand-in exporting the GPU of the mock's pod.

Prometheus scrapes the pods (vLLM, DCGM) the kube-prometheus way and, here, the operator's own /metrics:
the operator is a local process, so the test adds it as one more file_sd target (what the chart's
ServiceMonitor does on a real cluster, with honorLabels so the series keep their `namespace` label) and
removes it afterwards. Each expression is run the way Grafana runs it: a range query over the run's time
span with the board's variables filled in; it must give at least one series with a finite value.

With LLMLOAD_RECORD_DIR set, the finished LoadTest is written there (tests/unit/report/fixtures holds the
recorded ones the report's unit tests read).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.boards import PROMETHEUS, all_queries, label_values, promql
from tests.e2e.harness import Cluster, hack_vars, use_existing_cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_gpu_metrics import dcgm_exporter, prometheus_url
from tests.e2e.test_live import free_port, scrape
from tests.e2e.test_loadtest import condition, loadtest, wait_finished

__all__ = ["dcgm_exporter", "prometheus_url"]  # fixtures, imported for their use below

NAME = "dash"
# Grafana's $__rate_interval for a 1 s scrape interval: at least four scrapes.
RATE_INTERVAL = "5s"


@pytest.fixture
def mock_vllm(cluster: Cluster, namespace: str) -> str:
    """A mock vLLM with continuous batching: at most 4 requests run, more wait (a queue, a knee)."""
    args = ["--model", "e2e-model", "--batching", "--step-ms-base", "8", "--step-ms-per-seq", "2",
            "--max-running", "4", "--prefix-cache", "--error-rate", "0.02", "--seed", "7"]  # fmt: skip
    cluster.apply(mock_vllm_deployment("mock-vllm", cluster.mock_image, gpus=1, args=args), namespace)
    cluster.apply(service("mock-vllm", {"app.kubernetes.io/instance": "mock-vllm"}), namespace)
    cluster.kubectl(
        "rollout", "status", "deployment/mock-vllm", "-n", namespace, "--timeout=90s", timeout=100
    )
    return "mock-vllm"


@pytest.fixture
def scraped_operator(
    cluster: Cluster, namespace: str, tmp_path: Path, prometheus_url: str
) -> Iterator[OperatorProcess]:
    if use_existing_cluster():
        pytest.skip("needs the local node's Prometheus, whose targets this test adds")
    port = free_port()
    op = OperatorProcess(cluster, namespace, tmp_path, metrics_port=str(port), prometheus_url=prometheus_url)
    sd_file = (
        Path(hack_vars("CLUSTER_DIR")["CLUSTER_DIR"]) / "prometheus" / "sd" / f"e2e-{namespace}-operator.json"
    )
    op.start()
    try:
        wait_until(lambda: scrape(port) is not None, timeout=60, what="the operator's /metrics")
        sd_file.write_text(
            json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"job": "llmload-operator"}}])
        )

        def up() -> bool:
            answer = _get(prometheus_url, "/api/v1/query", query=f'up{{instance="127.0.0.1:{port}"}}')
            return any(r["value"][1] == "1" for r in answer)

        wait_until(up, timeout=30, what="Prometheus to scrape the operator")
        yield op
    finally:
        sd_file.unlink(missing_ok=True)
        op.stop()
        print(f"\n==== operator log ====\n{op.log_tail()}")


def _get(prometheus_url: str, path: str, **params: Any) -> list[Any]:
    body = httpx.get(f"{prometheus_url}{path}", params=params, timeout=10).json()
    assert body["status"] == "success", body
    data = body["data"]
    return list(data["result"] if isinstance(data, dict) else data)


def _finite(series: list[dict[str, Any]]) -> int:
    return sum(1 for s in series for _, v in s.get("values", []) if math.isfinite(float(v)))


def test_every_promql_of_every_board_returns_data_after_a_run(
    cluster: Cluster,
    namespace: str,
    scraped_operator: OperatorProcess,
    dcgm_exporter: str,
    prometheus_url: str,
) -> None:
    vllm_pod = dcgm_exporter
    spec = loadtest(
        NAME,
        slo={"ttftMilliseconds": 150, "tpotMilliseconds": 100, "percentile": 90},
        validation={"tolerancePercent": 5, "latencyToleranceMilliseconds": 50},
    )
    # Timed levels, so each lasts several scrapes; above 4 in flight the mock queues (the knee).
    spec["spec"]["load"] = {"mode": "Concurrency", "levels": [2, 4, 8, 16], "levelDurationSeconds": 8,
                            "timeoutSeconds": 30}  # fmt: skip
    cluster.apply(spec, namespace)
    lt = wait_finished(cluster, namespace, NAME, timeout=240)
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    _record("loadtest-batching-mock.json", lt)
    start = datetime.fromisoformat(lt["status"]["startTime"]).timestamp() - 10
    time.sleep(3)  # the operator's final gauges and the last level's vLLM and DCGM samples are scraped
    end = time.time()

    values = {"namespace": [namespace], "loadtest": [NAME], "pod": [vllm_pod], "datasource": ["prometheus"]}
    checked: list[str] = []
    empty: list[str] = []
    for query in all_queries(PROMETHEUS):
        text = promql(query.text, values, RATE_INTERVAL)
        variable = label_values(text)
        if variable is not None:
            selector, label = variable
            found = _get(
                prometheus_url, "/api/v1/series", **{"match[]": selector, "start": start, "end": end}
            )
            got = sorted({s[label] for s in found if label in s})
            checked.append(f"{query}: {label} = {got}")
            if not got:
                empty.append(f"{query}\n    {text}")
            continue
        series = _get(prometheus_url, "/api/v1/query_range", query=text, start=start, end=end, step="1s")
        checked.append(f"{query}: {len(series)} series, {_finite(series)} finite samples")
        if not _finite(series):
            empty.append(f"{query}\n    {text}")
    print("\n" + "\n".join(checked))
    assert len(checked) >= 30
    assert not empty, "queries without data:\n" + "\n".join(empty)


def _record(name: str, body: dict[str, Any]) -> None:
    record = os.environ.get("LLMLOAD_RECORD_DIR")
    if record:
        body["metadata"].pop("managedFields", None)
        Path(record, name).write_text(json.dumps(body, indent=1) + "\n")


def _report(cluster: Cluster, *args: str) -> str:
    """`llmload report` as a user runs it: through the kubeconfig, against the live object."""
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest_operator.cli", "report", *args],
        env={**os.environ, "KUBECONFIG": cluster.kubeconfig},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_report_of_a_live_rate_run(
    cluster: Cluster, namespace: str, scraped_operator: OperatorProcess, dcgm_exporter: str
) -> None:
    # Rate mode, the client's event-loop threshold tightened below what its loop shows: every level is
    # flagged client-saturated by the load generator itself, with its reasons.
    rate = loadtest("rate", slo={"ttftMilliseconds": 150, "tpotMilliseconds": 100, "percentile": 90})
    rate["spec"]["load"] = {
        "mode": "Rate",
        "levels": [5, 10, 20],
        "levelDurationSeconds": 6,
        "timeoutSeconds": 30,
    }
    rate["spec"]["loadGenerator"]["saturation"] = {"loopLagMillisecondsP99": 1}
    cluster.apply(rate, namespace)
    lt = wait_finished(cluster, namespace, "rate", timeout=180)
    _record("loadtest-rate-saturated.json", lt)
    levels = lt["status"]["levels"]
    assert [lv["latencyFrom"] for lv in levels] == ["ScheduledTime"] * 3
    saturated = [lv["level"] for lv in levels if lv["clientSaturated"]]
    report = _report(cluster, "rate", "-n", namespace, "-o", "json")
    found = {f["rule"]: f for f in json.loads(report)["findings"]}
    assert found["client_saturation"]["levels"] == saturated
    assert (found["client_saturation"]["severity"] == "warning") is bool(saturated)


def test_report_of_a_live_capacity_recommendation(
    cluster: Cluster, namespace: str, scraped_operator: OperatorProcess, dcgm_exporter: str
) -> None:
    caprec = {
        "apiVersion": "llmload.io/v1alpha1",
        "kind": "CapacityRecommendation",
        "metadata": {"name": "sizing"},
        "spec": {
            "target": {"serviceRef": {"name": "mock-vllm", "port": 8000}, "api": "Chat",
                       "deploymentRef": {"name": "mock-vllm"}},
            "workload": {"peakConcurrency": 40, "inputTokens": {"distribution": "Fixed", "mean": 32},
                         "outputTokens": {"distribution": "Fixed", "mean": 16}},
            "slo": {"ttftMilliseconds": 150, "percentile": 90, "goodputPercent": 90},
            "search": {"mode": "Levels", "levels": [2, 4, 8]},
            "requestsPerLevel": 30,
            "timeoutSeconds": 30,
            "cost": {"pricePerGpuHour": "2.50", "currency": "USD"},
            "loadGenerator": {"parallelism": 1, "placement": "SameNode",
                              "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                            "limits": {"memory": "512Mi"}}},
        },
    }  # fmt: skip
    cluster.apply(caprec, namespace)

    def settled() -> bool:
        body = cluster.get_json("capacityrecommendation", "sizing", "-n", namespace)
        ready = next((c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)
        return ready is not None and ready["status"] != "Unknown"

    wait_until(settled, timeout=240, what="the CapacityRecommendation to settle", interval=1)
    cr = cluster.get_json("capacityrecommendation", "sizing", "-n", namespace)
    _record("capacityrecommendation-levels.json", cr)
    for child in cr["status"]["children"]:
        _record(
            f"capacityrecommendation-child-{child}.json", cluster.get_json("loadtest", child, "-n", namespace)
        )
    knee = cr["status"]["measured"]["kneeLevel"]
    page = _report(cluster, "sizing", "-n", namespace, "--kind", "caprec", "-o", "html")
    assert f"Knee at level {knee}: {cr['status']['recommendation']['replicas']} replica(s)" in page
    assert "<h2>Search trace</h2>" in page
