"""Shards load the target together, on the real node: a shard pod held back by a ResourceQuota is waited
for, every level starts on every shard at once, and the per-level request rates in status are the mock's
own server-side counts over each level's window (GET /mock/truth). Also: three shards against the batching
mock, and what the barrier costs per level at the e2e reconcile interval (1 s) and the default (3 s)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_loadtest import condition, loadtest, wait_finished

RATE_TOLERANCE = 0.05
HELD_BACK_SECONDS = 20.0


def start_operator(cluster: Cluster, namespace: str, workdir: Path, **settings: str) -> OperatorProcess:
    # A pod refused by the quota must not fail the run (ShardPodRefused) while the test holds it back.
    op = OperatorProcess(cluster, namespace, workdir, unschedulable_grace_seconds="120", **settings)
    op.start()
    return op


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    op = start_operator(cluster, namespace, tmp_path)
    yield op
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail(30)}")


def deploy_mock(cluster: Cluster, namespace: str, args: list[str]) -> None:
    cluster.apply(mock_vllm_deployment("mock-vllm", cluster.mock_image, gpus=1, args=args), namespace)
    cluster.apply(service("mock-vllm", {"app.kubernetes.io/instance": "mock-vllm"}), namespace)
    cluster.kubectl(
        "rollout", "status", "deployment/mock-vllm", "-n", namespace, "--timeout=90s", timeout=100
    )


def mock_truth(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The mock's server-side record of every request, from inside its pod."""
    script = (
        "import urllib.request; "
        "print(urllib.request.urlopen('http://127.0.0.1:8000/mock/truth', timeout=10).read().decode())"
    )
    out = cluster.kubectl("exec", "-n", namespace, "deploy/mock-vllm", "--", "python3", "-c", script).stdout
    truth: dict[str, Any] = json.loads(out)
    return truth


def unix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check_rates_against_the_mock(
    cluster: Cluster, namespace: str, lt: dict[str, Any], achieved: bool = True
) -> list[float]:
    """Each level's requests per second against the mock's count of requests it handled in the level's
    window; the figures printed. Returns the gaps between levels (seconds the barrier added)."""
    truth = mock_truth(cluster, namespace)
    # `handled`: when the server had parsed the request (`read` can be stale on a connection whose last
    # request was a /tokenize call, which the truth does not record).
    handled = [t + truth["unix_minus_perf"] for t in truth["handled"]]
    levels = lt["status"]["levels"]
    for level in levels:
        start, end = unix(level["start"]), unix(level["end"])
        served = sum(start <= t <= end for t in handled)
        server_rate = served / (end - start)
        print(
            f"level {level['level']}: {level['requestsPerSecond']:.2f} req/s reported, the mock counted "
            f"{served} requests = {server_rate:.2f} req/s; overlap {level.get('shardOverlap')}, start "
            f"spread {level.get('shardStartSpreadMilliseconds')} ms, achieved load {level.get('achievedLoad')}"
        )
        assert level["requestsPerSecond"] == pytest.approx(server_rate, rel=RATE_TOLERANCE), level
        assert level["shardOverlap"] >= 0.95, level
        if achieved:  # levels long enough that the last requests' tail is a small part of the window
            assert level["achievedLoad"] == pytest.approx(level["level"], rel=0.25), level
    gaps = [unix(b["start"]) - unix(a["end"]) for a, b in itertools.pairwise(levels)]
    print(f"seconds between one level's end and the next one's start: {[round(g, 2) for g in gaps]}")
    return gaps


def test_a_shard_held_back_by_a_quota_is_waited_for_and_the_rates_are_the_servers(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    # About 0.36 s per request, as in the report that started this: 60 ms to the first token, 15 x 20 ms.
    deploy_mock(cluster, namespace, ["--model", "e2e-model", "--ttft-ms", "60", "--itl-ms", "20"])
    # The mock's pod plus one shard's: the second shard's pod is refused until the test lifts the quota.
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "pods"},
        "spec": {"hard": {"pods": "2"}},
    }
    cluster.apply(quota, namespace)
    wait_until(
        lambda: cluster.get_json("resourcequota", "pods", "-n", namespace).get("status", {}).get("used"),
        30,
        "the quota to count the namespace's pods",
    )
    cluster.apply(
        loadtest("held", load={"levels": [8, 16], "requestsPerLevel": 320, "timeoutSeconds": 30}), namespace
    )
    applied = time.monotonic()
    wait_until(
        lambda: (
            len(cluster.get_json("pods", "-n", namespace, "-l", "llmload.io/loadtest=held")["items"]) == 1
        ),
        60,
        "the first shard's pod",
    )
    time.sleep(max(0.0, HELD_BACK_SECONDS - (time.monotonic() - applied)))
    assert len(cluster.get_json("pods", "-n", namespace, "-l", "llmload.io/loadtest=held")["items"]) == 1
    cluster.kubectl("delete", "resourcequota", "pods", "-n", namespace)

    lt = wait_finished(cluster, namespace, "held", timeout=150)

    pods = cluster.get_json("pods", "-n", namespace, "-l", "llmload.io/loadtest=held")["items"]
    started = sorted(unix(p["status"]["startTime"]) for p in pods)
    print(f"shard pods started {started[1] - started[0]:.1f} s apart")
    assert started[1] - started[0] >= HELD_BACK_SECONDS - 5
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    aligned = condition(lt, "ShardsAligned")
    assert aligned is not None
    assert (aligned["status"], aligned["reason"]) == ("True", "ShardsOverlapped"), aligned
    assert [lv["requests"] for lv in lt["status"]["levels"]] == [320, 320]
    check_rates_against_the_mock(cluster, namespace, lt)


def test_three_shards_against_the_batching_mock_report_its_own_counts(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    deploy_mock(
        cluster,
        namespace,
        ["--model", "e2e-model", "--batching", "--step-ms-base", "10", "--step-ms-per-seq", "0.5",
         "--max-running", "64"],
    )  # fmt: skip
    load = {"mode": "Concurrency", "levels": [6, 12], "levelDurationSeconds": 8, "timeoutSeconds": 30}
    manifest = loadtest("batching", loadGenerator={"parallelism": 3})
    manifest["spec"]["load"] = load
    cluster.apply(manifest, namespace)

    lt = wait_finished(cluster, namespace, "batching", timeout=150)

    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    check_rates_against_the_mock(cluster, namespace, lt)


@pytest.mark.parametrize("interval", ["1", "3"])
def test_what_the_barrier_costs_per_level(
    cluster: Cluster, namespace: str, tmp_path: Path, interval: str
) -> None:
    op = start_operator(cluster, namespace, tmp_path, reconcile_interval_seconds=interval)
    try:
        deploy_mock(cluster, namespace, ["--model", "e2e-model", "--ttft-ms", "20", "--itl-ms", "2"])
        load = {"levels": [2, 4, 6, 8, 10], "requestsPerLevel": 40, "timeoutSeconds": 30}
        cluster.apply(loadtest("cost", load=load), namespace)
        lt = wait_finished(cluster, namespace, "cost", timeout=150)
    finally:
        op.stop()
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    gaps = check_rates_against_the_mock(cluster, namespace, lt, achieved=False)
    mean = sum(gaps) / len(gaps)
    print(f"reconcile interval {interval} s: the barrier adds {mean:.2f} s per level (max {max(gaps):.2f} s)")
    # At most one tick to notice every shard is ready, the lead, a poll and the API server's latency.
    assert max(gaps) < float(interval) + 1.0 + 1.5
