"""Issue 20, end to end. Finished objects cost nothing per tick: once a LoadTest's run has finished and is
stored, no timer ticks for it (the operator's own llmload_reconciles_total stays flat) and kopf's
finalizer is gone; yet an edit is looked at once, a runId bump starts a new run, and a restarted operator
checks the finished object exactly once. LoadTests applied at once (their children created concurrently)
each get their own shards, and finish with the request counts of a run alone."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Cluster, wait_until
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_loadtest import condition, get_lt, loadtest, mock_vllm, wait_finished

__all__ = ["mock_vllm"]  # the fixture, used by name

INTERVAL = 1.0  # the harness's LLMLOAD_RECONCILE_INTERVAL_SECONDS
FINALIZER = "llmload.io/finalizer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Metrics:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    def value(self, name: str, **labels: str) -> float:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return -1.0  # not serving yet (a process just started)
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            match = re.fullmatch(rf"{name}\{{{re.escape(wanted)}\}} (\S+)", line)
            if match:
                return float(match.group(1))
        return 0.0

    def reconciles(self) -> float:
        return self.value("llmload_reconciles_total", kind="LoadTest")

    def at_rest(self) -> float:
        return self.value("llmload_objects_at_rest", kind="LoadTest")


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[tuple[OperatorProcess, Metrics]]:
    port = free_port()
    op = OperatorProcess(cluster, namespace, tmp_path, metrics_port=str(port))
    op.start()
    yield op, Metrics(port)
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail()}")


def at_rest(lt: dict[str, Any]) -> bool:
    stored = condition(lt, "Stored")
    return (
        stored is not None
        and stored["status"] == "True"
        and FINALIZER not in (lt["metadata"].get("finalizers") or [])
    )


def flat_for(metrics: Metrics, seconds: float) -> tuple[float, float]:
    before = metrics.reconciles()
    time.sleep(seconds)
    return before, metrics.reconciles()


def test_a_finished_loadtest_is_not_ticked_yet_an_edit_a_runid_bump_and_a_restart_are_noticed(
    cluster: Cluster,
    namespace: str,
    operator: tuple[OperatorProcess, Metrics],
    mock_vllm: str,
) -> None:
    op, metrics = operator
    cluster.apply(loadtest("quiet", load={"levels": [2], "requestsPerLevel": 10}), namespace)
    wait_until(
        lambda: at_rest(get_lt(cluster, namespace, "quiet")), 120, "the run stored, its finalizer gone"
    )
    wait_until(lambda: metrics.at_rest() == 1, 10, "the finished LoadTest checked and at rest")

    # Ten intervals of a timer's worth of ticks: none.
    before, after = flat_for(metrics, 10 * INTERVAL)
    assert after == before, f"{after - before} reconciles of a finished LoadTest in {10 * INTERVAL:g} s"

    # An edit under the same runId: looked at once (a finished run does not re-run), then quiet again.
    cluster.kubectl(
        "patch", "loadtest", "quiet", "-n", namespace, "--type=merge", "-p", '{"spec":{"load":{"requestsPerLevel":12}}}'
    )  # fmt: skip
    wait_until(lambda: metrics.reconciles() >= after + 1, 10, "the edit to be looked at")
    time.sleep(2 * INTERVAL)
    before, after = flat_for(metrics, 5 * INTERVAL)
    assert after == before
    edited = get_lt(cluster, namespace, "quiet")
    assert (edited["status"]["runId"], condition(edited, "Succeeded")["status"]) == (0, "True")  # type: ignore[index]

    # A runId bump: a new run, with its timer and finalizer back while it runs, then quiet again.
    cluster.kubectl(
        "patch", "loadtest", "quiet", "-n", namespace, "--type=merge", "-p", '{"spec":{"runId":1}}'
    )
    wait_until(lambda: get_lt(cluster, namespace, "quiet")["status"].get("runId") == 1, 30, "run 1 to start")
    wait_until(
        lambda: (lambda lt: lt["status"].get("runId") == 1 and at_rest(lt))(
            get_lt(cluster, namespace, "quiet")
        ),
        120,
        "run 1 finished and stored",
    )
    run1 = cluster.kubectl("get", "jobs", "-n", namespace, "-l", "llmload.io/run-id=1", "-o", "name")
    assert len(run1.stdout.split()) == 2  # the run's two shards
    time.sleep(2 * INTERVAL)
    before, after = flat_for(metrics, 5 * INTERVAL)
    assert after == before

    # A restarted operator checks the finished object once (its store read), then nothing.
    op.stop()
    op.start()
    wait_until(lambda: metrics.at_rest() == 1, 30, "the restarted operator to check the finished LoadTest")
    time.sleep(2 * INTERVAL)
    assert metrics.reconciles() == 1
    before, after = flat_for(metrics, 5 * INTERVAL)
    assert (before, after) == (1, 1)


def test_loadtests_applied_at_once_each_get_their_shards_and_a_solo_runs_counts(
    cluster: Cluster,
    namespace: str,
    operator: tuple[OperatorProcess, Metrics],
    mock_vllm: str,
) -> None:
    load = {"levels": [2], "requestsPerLevel": 30}
    solo = wait_finished(cluster, namespace, _applied(cluster, namespace, loadtest("solo", load=load)))
    reference = [(lv["requests"], lv["successes"]) for lv in solo["status"]["levels"]]
    assert reference == [(30, 30)]

    names = [f"at-once-{i}" for i in range(4)]
    cluster.apply(
        {"apiVersion": "v1", "kind": "List", "items": [loadtest(n, load=load) for n in names]}, namespace
    )
    finished = {n: wait_finished(cluster, namespace, n, timeout=240) for n in names}

    for name, lt in finished.items():
        assert condition(lt, "Succeeded")["status"] == "True", name  # type: ignore[index]
        assert [(lv["requests"], lv["successes"]) for lv in lt["status"]["levels"]] == reference, name
        jobs = cluster.get_json("jobs", "-n", namespace, "-l", f"llmload.io/loadtest={name}")["items"]
        results = cluster.get_json("configmaps", "-n", namespace, "-l", f"llmload.io/loadtest={name}")[
            "items"
        ]
        shards = sorted(j["metadata"]["labels"].get("llmload.io/shard", "") for j in jobs)
        assert shards == ["0", "1"], name  # parallelism 2: one Job per shard, none lost or doubled
        owned = [cm for cm in results if cm["metadata"]["labels"].get("llmload.io/shard") is not None]
        assert len(owned) == 2, name  # a result ConfigMap per shard


def _applied(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> str:
    cluster.apply(manifest, namespace)
    return str(manifest["metadata"]["name"])
