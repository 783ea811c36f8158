"""The fault suite on the real node: the operator killed at chosen and random points of multi-shard runs, a
shard pod deleted mid-level, the kube-apiserver restarted mid-run, PostgreSQL down at the operator's start
and back later, Prometheus down, servers that send endless or malformed streams. Each case prints its
figure and adds a row to the session's table (tests/e2e/figures.py): case, expected, observed, time to the
condition that settles it.

Cases covered elsewhere and not repeated here: a ResourceQuota refusal, an unschedulable shard, a
deleted shard Job, a database outage of a finished run, a Prometheus URL in the spec that nothing serves
(test_loadtest.py, test_gpu_metrics.py).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch

from loadtest_operator.io.store import create_store_engine, list_runs
from tests.e2e.apiserver import restarted_apiserver, serving
from tests.e2e.figures import record
from tests.e2e.harness import Cluster, use_existing_cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_loadtest import MOCK_ITL_MS, MOCK_TTFT_MS, condition, get_lt, loadtest, wait_finished
from tests.integration.store.conftest import SUPERUSER, find_pg_bindir, free_loopback_port

KILL_ROUNDS = 4
KILLS_PER_ROUND = 5  # 20 in all
LEVELS = [2, 4]
REQUESTS_PER_LEVEL = 30
RUN: dict[str, Any] = {"levels": LEVELS, "requestsPerLevel": REQUESTS_PER_LEVEL}
SHARDS = 2


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def core(cluster: Cluster) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=cluster.kubeconfig)
    try:
        yield api_client
    finally:
        api_client.close()


def start_mock(cluster: Cluster, namespace: str, name: str, *args: str) -> str:
    """A mock vLLM Deployment and its Service; the pod's IP (the host reaches the pod bridge)."""
    flags = ["--model", "e2e-model", "--ttft-ms", str(MOCK_TTFT_MS), "--itl-ms", str(MOCK_ITL_MS), *args]
    cluster.apply(mock_vllm_deployment(name, cluster.mock_image, gpus=0, args=flags), namespace)
    cluster.apply(service(name, {"app.kubernetes.io/instance": name}), namespace)
    cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=90s", timeout=100)
    pod = cluster.get_json("pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}")["items"][0]
    return str(pod["status"]["podIP"])


@pytest.fixture
def mock(cluster: Cluster, namespace: str) -> str:
    return start_mock(cluster, namespace, "mock-vllm")


def truth_count(pod_ip: str) -> int:
    """Generation requests the mock answered to the end (its server-side truth)."""
    return len(httpx.get(f"http://{pod_ip}:8000/mock/truth", timeout=10).json()["read"])


def reset_truth(pod_ip: str) -> None:
    httpx.post(f"http://{pod_ip}:8000/mock/reset", timeout=10).raise_for_status()


def multi_shard(name: str, load: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    return loadtest(name, load={**RUN, **(load or {})}, loadGenerator={"parallelism": SHARDS}, **overrides)


def started_events(cluster: Cluster, namespace: str, name: str) -> int:
    events = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return sum(e.get("count", 1) for e in events["items"] if e["reason"] == "Started")


def wait_event(
    api_client: client.ApiClient,
    namespace: str,
    resource: str,
    hit: Callable[[dict[str, Any]], bool],
    timeout: int = 90,
) -> float:
    """Blocks until a watch event on `resource` (jobs or configmaps) satisfies `hit`; when it came."""
    lister = {
        "jobs": client.BatchV1Api(api_client).list_namespaced_job,
        "configmaps": client.CoreV1Api(api_client).list_namespaced_config_map,
    }[resource]
    w = watch.Watch()
    try:
        for event in w.stream(lister, namespace, timeout_seconds=timeout, _request_timeout=timeout + 5):
            obj = api_client.sanitize_for_serialization(event["object"])
            if hit(obj):
                return time.monotonic()
    finally:
        w.stop()
    raise AssertionError(f"no {resource} event in {namespace} within {timeout}s matched")  # fmt: skip


def result_written(parallelism: int) -> Callable[[dict[str, Any]], bool]:
    """True on the event in which the last shard's result ConfigMap gets its result."""
    done: set[str] = set()

    def hit(cm: dict[str, Any]) -> bool:
        if (cm.get("data") or {}).get("result"):
            done.add(cm["metadata"]["name"])
        return len(done) >= parallelism

    return hit


# -- the operator killed 20 times ------------------------------------------------------------------------


def test_operator_killed_20_times_loses_and_duplicates_no_run(
    cluster: Cluster, namespace: str, mock: str, core: client.ApiClient, tmp_path: Path
) -> None:
    operator = OperatorProcess(cluster, namespace, tmp_path)
    operator.start()
    rng = random.Random(16)
    kills = {"between two Jobs": 0, "just after the last result": 0, "random": 0}
    worst = 0.0

    def kill_and_restart() -> None:
        assert operator.proc is not None
        assert operator.proc.poll() is None, f"the operator died on its own:\n{operator.log_tail()}"
        operator.kill()
        operator.start()

    try:
        reset_truth(mock)
        cluster.apply(multi_shard("clean"), namespace)
        clean = wait_finished(cluster, namespace, "clean")
        clean_requests = [lv["requests"] for lv in clean["status"]["levels"]]
        clean_truth = truth_count(mock)
        assert clean_truth == REQUESTS_PER_LEVEL * len(LEVELS)
        for n in range(KILL_ROUNDS):
            name = f"killed-{n}"
            reset_truth(mock)
            cluster.apply(multi_shard(name), namespace)
            # 1. The moment the first Job appears: the executor may be between its two Job creates.
            wait_event(core, namespace, "jobs", _of_run(name, lambda job: True))
            kill_and_restart()
            jobs = cluster.get_json("jobs", "-n", namespace, "-l", f"llmload.io/loadtest={name}")["items"]
            kills["between two Jobs" if len(jobs) < SHARDS else "random"] += 1
            # 2., 3. At random points while the shards start and run.
            for _ in range(KILLS_PER_ROUND - 3):
                time.sleep(rng.uniform(0.5, 3.0))
                kill_and_restart()
                kills["random"] += 1
            # 4. The moment the last shard's result is written: the operator is about to merge.
            wait_event(core, namespace, "configmaps", _of_run(name, result_written(SHARDS)))
            kill_and_restart()
            kills["just after the last result"] += 1
            last_kill = time.monotonic()
            # 5. While it merges, stores and writes status (or just after).
            time.sleep(rng.uniform(0.0, 2.0))
            kill_and_restart()
            kills["random"] += 1
            lt = wait_finished(cluster, namespace, name, timeout=120)
            worst = max(worst, time.monotonic() - last_kill)
            succeeded = condition(lt, "Succeeded")
            assert succeeded is not None
            assert (succeeded["status"], succeeded["reason"]) == ("True", "Completed"), succeeded
            assert [lv["requests"] for lv in lt["status"]["levels"]] == clean_requests
            assert truth_count(mock) == clean_truth  # the server got each request exactly once
            assert started_events(cluster, namespace, name) == 1
            jobs = cluster.get_json("jobs", "-n", namespace, "-l", f"llmload.io/loadtest={name}")["items"]
            assert len(jobs) == SHARDS
        wait_until(
            lambda: all((condition(get_lt(cluster, namespace, f"killed-{n}"), "Stored") or {}).get("status")
                        == "True" for n in range(KILL_ROUNDS)),
            timeout=60, what="every run in the store",
        )  # fmt: skip
        runs = list_runs(create_store_engine(str(operator.sqlite_path)))
        names = sorted(r.name for r in runs)
        assert names == sorted(["clean", *(f"killed-{n}" for n in range(KILL_ROUNDS))])  # one row each
    finally:
        operator.stop()
        print(f"\n==== operator log ====\n{operator.log_tail()}")
    total = sum(kills.values())
    assert total == KILL_ROUNDS * KILLS_PER_ROUND
    where = ", ".join(f"{v} {k}" for k, v in kills.items())
    record(
        f"operator SIGKILL x{total} ({where})",
        "0 runs lost, 0 duplicated, requests = a clean run's",
        f"{KILL_ROUNDS}/{KILL_ROUNDS} Completed, 0 duplicated (1 Started event, {SHARDS} Jobs, 1 store row "
        f"each), server-side requests {clean_truth} = clean {clean_truth}",
        worst,
    )


def _of_run(name: str, hit: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: obj["metadata"]["name"].startswith(name) and hit(obj)


# -- a shard pod deleted mid-level -----------------------------------------------------------------------


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    op = OperatorProcess(cluster, namespace, tmp_path)
    op.start()
    yield op
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail()}")


def wait_progress(cluster: Cluster, namespace: str, name: str) -> float:
    wait_until(
        lambda: (get_lt(cluster, namespace, name).get("status") or {}).get("progress", {}).get(
            "completedRequests", 0) > 0,
        timeout=90, what=f"{name}'s progress",
    )  # fmt: skip
    return time.monotonic()


def test_a_shard_pod_deleted_mid_level_fails_the_run_saying_so_and_never_reruns_it(
    cluster: Cluster, namespace: str, mock: str, operator: OperatorProcess
) -> None:
    reset_truth(mock)
    cluster.apply(multi_shard("podkill", load={"levels": [2], "requestsPerLevel": 400}), namespace)
    wait_progress(cluster, namespace, "podkill")
    pods = cluster.get_json("pods", "-n", namespace, "-l", "llmload.io/loadtest=podkill,llmload.io/shard=0")
    victim = pods["items"][0]["metadata"]["name"]

    cluster.kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")
    deleted = time.monotonic()

    lt = wait_finished(cluster, namespace, "podkill", timeout=120)
    seconds = time.monotonic() - deleted
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert (succeeded["status"], succeeded["reason"]) == ("False", "ShardFailed"), succeeded
    assert "shard restarted" in succeeded["message"]
    served = truth_count(mock)
    assert served < 400  # the replaced pod sent nothing again
    record(
        "shard pod deleted mid-level",
        "Succeeded=False ShardFailed 'shard restarted', no re-run",
        f"{succeeded['status']} {succeeded['reason']} ('shard restarted'); server-side requests {served} < 400",
        seconds,
    )


# -- kube-apiserver restarted mid-run --------------------------------------------------------------------


@pytest.mark.skipif(use_existing_cluster(), reason="restarts the local node's kube-apiserver")
def test_a_kube_apiserver_restart_mid_run_still_ends_the_run(
    cluster: Cluster, namespace: str, mock: str, operator: OperatorProcess
) -> None:
    reset_truth(mock)
    cluster.apply(multi_shard("apirestart", load={"levels": [2, 4], "requestsPerLevel": 150}), namespace)
    wait_progress(cluster, namespace, "apirestart")

    with restarted_apiserver(cluster) as stopped:
        assert not serving(cluster)
        time.sleep(2)  # the operator's ticks and the shards' progress writes fail meanwhile
    back = time.monotonic() - stopped

    # kopf may stop on the restarted API server's 404s before the CRDs are served again; the operator
    # then exits (main.py, EXIT_TIMEOUT_SECONDS) and, like the chart's Deployment, is started again.
    restarts = 0

    def finished_or_restarted() -> bool:
        nonlocal restarts
        restarts += operator.restart_if_exited()
        cond = condition(get_lt(cluster, namespace, "apirestart"), "Succeeded")
        return cond is not None and cond["status"] != "Unknown"

    wait_until(finished_or_restarted, timeout=150, what="the run to end after the API server restart")
    lt = get_lt(cluster, namespace, "apirestart")
    seconds = time.monotonic() - stopped
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    if succeeded["status"] == "True":
        assert [lv["requests"] for lv in lt["status"]["levels"]] == [150, 150]
        assert truth_count(mock) == 300
    else:  # a shard whose result write fell into the outage: said plainly, never a silent partial run
        assert succeeded["reason"] in ("ShardFailed", "StalledTooLong"), succeeded
        assert succeeded["message"], succeeded
    record(
        "kube-apiserver restarted mid-run",
        "the run completes, or ends with a clear condition",
        f"API server back after {back:.1f} s; Succeeded={succeeded['status']} {succeeded['reason']}; "
        f"operator restarted {restarts}x",
        seconds,
    )


# -- PostgreSQL down at the operator's start, Prometheus down ---------------------------------------------


class Postgres:
    """A real PostgreSQL on loopback (as in tests/integration/store), initialised but not started."""

    def __init__(self) -> None:
        self.bindir = find_pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="llmload-e2e-pg-"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.sockets.mkdir()
        shutil.chown(self.root, user=SUPERUSER)
        shutil.chown(self.sockets, user=SUPERUSER)
        self.port = free_loopback_port()
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", SUPERUSER, "--", str(self.bindir / tool), *args],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o", options, "start")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def test_postgres_down_at_start_is_stored_once_back_and_prometheus_down_never_fails_the_run(
    cluster: Cluster, namespace: str, mock: str, tmp_path: Path
) -> None:
    pg = Postgres()
    # Nothing listens on loopback port 9: the operator's Prometheus is down for this run.
    op = OperatorProcess(
        cluster, namespace, tmp_path, database_url=pg.url, prometheus_url="http://127.0.0.1:9"
    )
    op.start()
    try:
        cluster.apply(multi_shard("pgdown"), namespace)
        lt = wait_finished(cluster, namespace, "pgdown")
        succeeded, stored = condition(lt, "Succeeded"), condition(lt, "Stored")
        gpu = condition(lt, "GpuMetricsAvailable")
        assert succeeded is not None
        assert succeeded["status"] == "True", succeeded
        assert stored is not None
        assert (stored["status"], stored["reason"]) == ("False", "DatabaseUnavailable"), stored
        assert gpu is not None
        assert (gpu["status"], gpu["reason"]) == ("False", "PrometheusUnreachable"), gpu
        assert "127.0.0.1:9" in gpu["message"]
        record(
            "Prometheus down (the operator's URL)",
            "GpuMetricsAvailable=False with a clear reason, the run succeeds",
            f"GpuMetricsAvailable=False {gpu['reason']}; Succeeded=True",
            None,
        )

        pg.start()  # the same operator process, never restarted
        back = time.monotonic()
        wait_until(
            lambda: (condition(get_lt(cluster, namespace, "pgdown"), "Stored") or {}).get("status") == "True",
            timeout=120, what="the run to reach PostgreSQL once it is up",
        )  # fmt: skip
        seconds = time.monotonic() - back
        assert op.proc is not None
        assert op.proc.poll() is None
        (run,) = list_runs(create_store_engine(pg.url))
        assert (run.name, run.status) == ("pgdown", "Succeeded")
    finally:
        op.stop()
        print(f"\n==== operator log ====\n{op.log_tail()}")
        pg.remove()
    record(
        "PostgreSQL down at operator start, up later",
        "Stored=True once back, no operator restart",
        "Stored=False DatabaseUnavailable, then True; 1 row",
        seconds,
    )


# -- servers that send endless or malformed streams --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind"), [("endless-event", "response_too_large"), ("malformed-chunk", "malformed_stream")]
)
def test_a_server_sending_endless_or_malformed_streams_fails_those_requests_by_kind_and_the_run_ends(
    cluster: Cluster, namespace: str, operator: OperatorProcess, fault: str, kind: str
) -> None:
    name = f"mock-{fault}"
    start_mock(cluster, namespace, name, "--fault", fault, "--fault-every", "4")
    target = {"serviceRef": {"name": name, "port": 8000}}
    created = time.monotonic()
    cluster.apply(
        multi_shard("faulty", target=target, load={"levels": [2], "requestsPerLevel": 40}), namespace
    )

    lt = wait_finished(cluster, namespace, "faulty", timeout=120)
    seconds = time.monotonic() - created
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] != "Unknown"
    (level,) = lt["status"]["levels"]
    errors = level.get("errorsByKind") or {}
    assert level["requests"] == 40
    assert errors.get(kind) == 40 // 4, errors  # every 4th request, each failed with its kind
    assert level["successes"] == 40 - 40 // 4
    record(
        f"server sends {fault} every 4th request",
        f"those requests fail as {kind}, the run ends",
        f"errors {errors}, {level['successes']}/40 succeeded; Succeeded={succeeded['status']} "
        f"{succeeded['reason']}",
        seconds,
    )
