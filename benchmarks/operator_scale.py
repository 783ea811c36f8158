"""Issue 20: one operator for a thousand teams, benchmarked. Prints each figure with its target and
[met]/[missed]; figures, not tests (tests/e2e/test_scale.py asserts the behaviour).

Runs against the local node, or any cluster with USE_EXISTING_CLUSTER=true (tests/e2e/harness.py). The
operator runs as the e2e harness runs it (tests/e2e/operator_process.py: a local process, here watching
this benchmark's namespaces, with the product's default 3 s reconcile interval), and its RSS and CPU are
read from /proc. Everything it creates lives in its own namespaces, deleted at the end whatever happens.

  1. Burst: N LoadTests (default 100, parallelism 1) applied at once against the mock vLLM: seconds from
     each create to its Job appearing (a watch, client clock), and every run's request counts against a
     run of the same spec alone (no lost or duplicated shard: one merged result per shard, counts equal).
  2. Rest: M finished objects (default 10,000: 70 % LoadTests whose status is a real finished run's, 10 %
     LoadTests and 20 % CapacityRecommendations with specs the operator refuses), created while the
     operator is down. Its first start checks each once (the store lacks those runs: each is written), a
     restart checks each once again (store reads only); then its idle CPU over a window, and its RSS.
  3. Hooks: the merge benchmark (benchmarks/merge_bench.py), the results service (benchmarks/
     results_bench.py) when present; the load generator's --workers rate (benchmarks/workers_bench.py).

    .venv/bin/python -m benchmarks.operator_scale [--objects 10000] [--burst 100] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from loadtest_operator.io.store import RunQuery, create_store_engine, list_level_results, list_runs
from tests.e2e.harness import ROOT, Cluster, start_cluster, use_existing_cluster
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess

GROUP, VERSION = "llmload.io", "v1alpha1"
INTERVAL = "3"  # the product's default reconcile interval
# Deadlines of the at-rest phase: a floor, and per object (measured: ~30 writes/s creating them, the API
# server sharing two cores; a first start checks ~25 objects/s).
CREATE_DEADLINE_S, CREATE_S_PER_OBJECT = 420.0, 0.06
SETTLE_DEADLINE_S, SETTLE_S_PER_OBJECT = 300.0, 0.09
BURST_DEADLINE_S = 300.0
ROWS: list[tuple[str, str, str, str]] = []
HELD: list[Any] = []  # the cluster lock's open file


def figure(name: str, value: str, target: str = "", met: bool | None = None, note: str = "") -> None:
    verdict = "" if met is None else ("[met]" if met else "[missed]")
    ROWS.append((name, value, target, f"{verdict} {note}".strip()))
    print(f"  {name}: {value}  {target}  {verdict} {note}".rstrip(), flush=True)


def p(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Proc:
    """RSS and CPU time of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Metrics:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    def sum(self, name: str) -> float:
        try:
            with urllib.request.urlopen(self.url, timeout=10) as resp:
                text = resp.read().decode()
        except OSError:
            return -1.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def deep_size(obj: Any) -> int:
    """Bytes of a parsed JSON document's Python objects (dicts, lists, strings, numbers)."""
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k) + deep_size(v) for k, v in obj.items())
    elif isinstance(obj, list):
        size += sum(deep_size(v) for v in obj)
    return size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> float | None:
    """Seconds until `condition` held, or None at the timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)
    return time.monotonic() - start


def loadtest(name: str, **spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"serviceRef": {"name": "mock-vllm", "port": 8000}, "api": "Chat"},
        "workload": {
            "inputTokens": {"distribution": "Fixed", "mean": 32},
            "outputTokens": {"distribution": "Fixed", "mean": 8},
        },
        "load": {"mode": "Concurrency", "levels": [2], "requestsPerLevel": 20, "timeoutSeconds": 30},
        "loadGenerator": {
            "parallelism": 1,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "512Mi"}},
        },
    }
    spec.update(spec_overrides)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "LoadTest", "metadata": {"name": name}, "spec": spec}


def refused_capacity(name: str) -> dict[str, Any]:
    # scaleDeployment without maxReplicas: Ready=False InvalidSpec, decided without reading the cluster.
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CapacityRecommendation",
        "metadata": {"name": name},
        "spec": {
            "target": {"deploymentRef": {"name": "vllm"}, "serviceRef": {"name": "vllm", "port": 8000}},
            "workload": {"peakConcurrency": 8, "inputTokens": {"mean": 32}, "outputTokens": {"mean": 16}},
            "slo": {"ttftMilliseconds": 500},
            "scaleDeployment": True,
        },
    }


class Bench:
    def __init__(self, cluster: Cluster, args: argparse.Namespace, workdir: Path) -> None:
        self.cluster, self.args, self.workdir = cluster, args, workdir
        api = config.new_client_from_config(config_file=cluster.kubeconfig)
        api.configuration.connection_pool_maxsize = 32
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        tag = uuid.uuid4().hex[:6]
        self.burst_ns = f"bench-burst-{tag}"
        self.rest_ns = [f"bench-rest-{tag}-{i}" for i in range(2)]
        self.apply_seconds: list[float] = []  # each create call's own time (API server, admission)
        self.reference: list[tuple[int, int]] = []  # the solo run's (requests, successes) per level
        self.port = free_port()
        self.metrics = Metrics(self.port)
        self.op = OperatorProcess(
            cluster, ",".join([self.burst_ns, *self.rest_ns]), workdir,
            metrics_port=str(self.port), reconcile_interval_seconds=INTERVAL,
        )  # fmt: skip

    # -- set-up and clean-up ------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        return [self.burst_ns, *self.rest_ns]

    def create_namespaces(self) -> None:
        for ns in self.namespaces():
            self.core.create_namespace(
                {"metadata": {"name": ns, "labels": {"llmload.io/benchmark": "scale"}}}
            )
        for ns in self.namespaces():
            wait(lambda ns=ns: bool(self.core.list_namespaced_service_account(ns).items), 30, 0.5)  # type: ignore[misc]

    def clean_up(self) -> None:
        self.op.stop()
        for ns in self.namespaces():
            for plural in ("loadtests", "capacityrecommendations"):
                try:
                    items = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]
                except client.ApiException:
                    continue
                held = [o for o in items if o["metadata"].get("finalizers")]
                with ThreadPoolExecutor(16) as pool:  # the operator is stopped: nobody else releases them
                    list(pool.map(lambda o, plural=plural, ns=ns: self._release(ns, plural, o), held))
            with contextlib.suppress(client.ApiException):
                self.core.delete_namespace(ns)
        gone = wait(lambda: not any(self._exists(ns) for ns in self.namespaces()), 120, 2)
        # The namespace controller finishes on its own; the next user of the node finds them going.
        print(f"clean-up: namespaces {'deleted' if gone is not None else 'still terminating after 120 s'}")

    def _release(self, ns: str, plural: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, plural, name, {"metadata": {"finalizers": None}}
        )

    def _exists(self, ns: str) -> bool:
        try:
            self.core.read_namespace(ns)
        except client.ApiException:
            return False
        return True

    # -- 1. the burst -------------------------------------------------------------------------------
    def solo(self) -> dict[str, Any]:
        """The mock vLLM, and one LoadTest run alone: the reference of the burst, and the status the
        finished objects at rest are given."""
        ns = self.burst_ns
        self.cluster.apply(mock_vllm_deployment("mock-vllm", self.cluster.mock_image, gpus=1,
                                                args=["--model", "bench-model", "--ttft-ms", "20", "--itl-ms", "2"]), ns)  # fmt: skip
        self.cluster.apply(service("mock-vllm", {"app.kubernetes.io/instance": "mock-vllm"}), ns)
        self.cluster.kubectl(
            "rollout", "status", "deployment/mock-vllm", "-n", ns, "--timeout=120s", timeout=130
        )
        self.op.start()
        solo = self._finished(ns, ["solo"], [self._create(ns, loadtest("solo"))]).get("solo")
        if solo is None:
            raise RuntimeError("the solo LoadTest did not finish and store its run within 180 s")
        self.reference = [(lv["requests"], lv["successes"]) for lv in solo["status"]["levels"]]
        return dict(solo["status"])

    def burst(self) -> None:
        """N LoadTests at once, with the operator (running) watching every object at rest as well."""
        ns, reference = self.burst_ns, self.reference

        seen: dict[str, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch_jobs, args=(ns, seen, stop), daemon=True)
        watcher.start()
        time.sleep(1.0)
        names = [f"burst-{i:03d}" for i in range(self.args.burst)]
        self.apply_seconds.clear()
        with ThreadPoolExecutor(16) as pool:
            applied = dict(zip(names, pool.map(lambda n: self._create(ns, loadtest(n)), names), strict=True))
        wait(lambda: len(seen) >= len(names), 120, 0.2)
        stop.set()
        for job in self.batch.list_namespaced_job(ns).items:  # any the watch missed: by their timestamp
            owner = (job.metadata.labels or {}).get("llmload.io/loadtest")
            if owner in applied and owner not in seen:
                seen[owner] = job.metadata.creation_timestamp.timestamp()
        delays = [max(seen[n] - applied[n], 0.0) for n in names if n in seen]
        missing = len(names) - len(delays)
        if not delays:
            figure(
                f"{len(names)} LoadTests at once: apply -> Jobs created, p99",
                "no Job within 120 s",
                "< 2 s",
                False,
            )
        else:
            figure(f"{len(names)} LoadTests at once: apply -> Jobs created, p50", f"{p(delays, 50):.2f} s")
            figure(f"{len(names)} LoadTests at once: apply -> Jobs created, p99", f"{p(delays, 99):.2f} s",
                   "< 2 s", p(delays, 99) < 2.0 and not missing,
                   f"(max {max(delays):.2f} s{f'; {missing} without a Job after 120 s' if missing else ''})")  # fmt: skip
        figure("apply call itself (API server and admission), p50 / p99",
               f"{p(self.apply_seconds, 50):.2f} / {p(self.apply_seconds, 99):.2f} s")  # fmt: skip
        self._creation_spans(ns, names, applied)
        done = self._finished(ns, names, list(applied.values()), BURST_DEADLINE_S)
        ok = [n for n, lt in done.items() if self._same_as(lt, reference)]
        bad = sorted(set(names) - set(ok))
        figure(f"{len(names)} LoadTests at once: finished with the solo run's request counts",
               f"{len(ok)}/{len(names)}", f"{len(names)}/{len(names)}", not bad,
               f"(solo: {reference} (requests, successes) per level){f'; differ: {bad[:5]}' if bad else ''}")  # fmt: skip
        engine = create_store_engine(str(self.op.sqlite_path))
        in_ns = list_runs(engine, RunQuery(namespace=ns, limit=len(names) + 10))
        stored = [r for r in in_ns if r.name in done]
        counts = [
            sum(lv.requests for lv in list_level_results(engine, r.loadtest_uid, r.run_id)) for r in stored
        ]
        want = sum(r for r, _ in reference)
        figure("burst runs in the SQL store with the solo run's request count",
               f"{sum(c == want for c in counts)}/{len(names)}", f"{len(names)}/{len(names)}",
               sum(c == want for c in counts) == len(names))  # fmt: skip
        engine.dispose()

    def _creation_spans(self, ns: str, names: list[str], applied: dict[str, float]) -> None:
        """Where apply -> Jobs goes, from the operator's log (same clock): apply -> the first tick's first
        create (kopf's watch event, its finalizer patch and the next event, the tick's reads of the
        target), and that create -> the last Job's (the children's writes)."""
        pattern = re.compile(r"^(\S+ \S+),(\d+) INFO llmload.operator: LoadTest (\S+)/(\S+): created (\w+) ")
        creates: dict[str, list[tuple[float, str]]] = {}
        for line in self.op.log_tail(10**6).splitlines():
            m = pattern.match(line)
            if m and m.group(3) == ns and m.group(4) in names:
                stamp = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
                creates.setdefault(m.group(4), []).append((stamp, m.group(5)))
        to_first = [max(c[0][0] - applied[n], 0.0) for n, c in creates.items()]
        spans = [
            max(t for t, k in c if k == "Job") - c[0][0]
            for c in creates.values()
            if any(k == "Job" for _, k in c)
        ]
        if spans:
            counts = sorted({len(c) for c in creates.values()})
            figure("apply -> first tick's first create, p50 / p99",
                   f"{p(to_first, 50):.2f} / {p(to_first, 99):.2f} s")  # fmt: skip
            figure("first create -> last Job created, p50 / p99",
                   f"{p(spans, 50):.2f} / {p(spans, 99):.2f} s", note=f"({counts} objects per LoadTest)")  # fmt: skip

    def _create(self, ns: str, manifest: dict[str, Any], plural: str = "loadtests") -> float:
        """The moment the apply began (client clock: the operator's log is on the same clock)."""
        began = time.time()
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, plural, manifest, _preload_content=False
        )
        self.apply_seconds.append(time.time() - began)
        return began

    def _watch_jobs(self, ns: str, seen: dict[str, float], stop: threading.Event) -> None:
        w = watch.Watch()
        for event in w.stream(self.batch.list_namespaced_job, ns, timeout_seconds=150):
            owner = (event["object"].metadata.labels or {}).get("llmload.io/loadtest")
            if event["type"] == "ADDED" and owner and owner not in seen:
                seen[owner] = time.time()
            if stop.is_set():
                w.stop()

    def _finished(
        self, ns: str, names: list[str], _applied: list[float], timeout: float = 180
    ) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {}

        def all_done() -> bool:
            items = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "loadtests")["items"]
            for lt in items:
                conds = {c["type"]: c for c in (lt.get("status") or {}).get("conditions") or []}
                stored = conds.get("Stored", {}).get("status") == "True"
                if lt["metadata"]["name"] in names and stored and conds["Succeeded"]["status"] != "Unknown":
                    result[lt["metadata"]["name"]] = lt
            return len(result) >= len(names)

        wait(all_done, timeout, 2)
        return result

    @staticmethod
    def _same_as(lt: dict[str, Any], reference: list[tuple[int, int]]) -> bool:
        status = lt["status"]
        conds = {c["type"]: c for c in status.get("conditions") or []}
        levels = [(lv["requests"], lv["successes"]) for lv in status.get("levels") or []]
        return conds["Succeeded"]["status"] == "True" and levels == reference

    # -- 2. objects at rest -------------------------------------------------------------------------
    def rest(self, template: dict[str, Any]) -> None:
        self.op.stop()
        n = self.args.objects
        finished_lts, refused_lts = int(n * 0.7), int(n * 0.1)
        refused_crs = n - finished_lts - refused_lts
        jobs: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = []
        for i in range(n):
            ns = self.rest_ns[i % len(self.rest_ns)]
            if i < finished_lts:
                jobs.append((ns, "loadtests", loadtest(f"done-{i:05d}"), template))
            elif i < finished_lts + refused_lts:
                lt = loadtest(
                    f"refused-{i:05d}", load={"mode": "Concurrency", "levels": [8, 4], "requestsPerLevel": 20}
                )
                jobs.append((ns, "loadtests", lt, None))
            else:
                jobs.append((ns, "capacityrecommendations", refused_capacity(f"cr-{i:05d}"), None))
        status_kb = len(json.dumps(template)) / 1024
        print(f"creating {n} objects ({finished_lts} finished LoadTests with a real run's status of "
              f"{status_kb:.1f} KB, {refused_lts} refused LoadTests, {refused_crs} refused "
              f"CapacityRecommendations) while the operator is down", flush=True)  # fmt: skip
        started = time.monotonic()
        limit = max(CREATE_DEADLINE_S, n * CREATE_S_PER_OBJECT)
        deadline = started + limit
        done = [0]

        def create(job: tuple[str, str, dict[str, Any], dict[str, Any] | None]) -> bool:
            ok = self._create_at_rest(*job, deadline=deadline)
            done[0] += 1
            if done[0] % 1000 == 0:
                print(f"  ... {done[0]}/{n} after {time.monotonic() - started:.0f} s", flush=True)
            return ok

        with ThreadPoolExecutor(24) as pool:
            created = sum(pool.map(create, jobs))
        took = time.monotonic() - started
        writes = created + finished_lts
        figure("finished objects created (while the operator is down)",
               f"{created}/{n} in {took:.0f} s", f"within {limit:.0f} s", created == n,
               f"({created / took:.0f} objects/s, {writes / took:.0f} API writes/s: a create, and a status "
               "write for each finished run)")  # fmt: skip

        self._body_size(created)
        created += 1  # the solo LoadTest, at rest too
        proc = self._start_and_settle(created, "first start (store lacks the runs: each written once)")
        db = sum(f.stat().st_size for f in self.op.sqlite_path.parent.glob(self.op.sqlite_path.name + "*"))
        figure("SQL store (SQLite) per finished run", f"{db / (finished_lts + 1) / 1024:.1f} KB",
               note=f"({db / 2**20:.0f} MB for {finished_lts + 1} runs of {len(template.get('levels') or [])} level(s))")  # fmt: skip
        if not self.args.skip_restart:
            figure(f"operator RSS after the first start, {created} objects", f"{proc.rss_mb():.0f} MB")
            self.op.stop()
            proc = self._start_and_settle(created, "restart (each checked once: store reads only)")
        time.sleep(5)
        reconciles = self.metrics.sum("llmload_reconciles_total")
        cpu0, t0 = proc.cpu_seconds(), time.monotonic()
        time.sleep(self.args.idle_seconds)
        cpu = (proc.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        ticks = self.metrics.sum("llmload_reconciles_total") - reconciles
        rss = proc.rss_mb()
        figure(f"idle CPU with {created} finished objects ({self.args.idle_seconds:.0f} s window)",
               f"{cpu:.1%} of one core", "< 5 %", cpu < 0.05)  # fmt: skip
        figure(f"reconciles during the idle window ({created} objects)", f"{ticks:.0f}", "0", ticks == 0)
        figure(f"operator RSS with {created} finished objects", f"{rss:.0f} MB", "< 500 MB", rss < 500)

    def _body_size(self, count: int) -> None:
        """One finished LoadTest as the API server sends it (managedFields and all), in JSON and parsed:
        kopf keeps the last body of every object it watches (its timers' `body`), at rest or not."""
        items = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.rest_ns[0], "loadtests", limit=1
        )
        if not items["items"]:
            return
        body = items["items"][0]
        kb, parsed = len(json.dumps(body)) / 1024, deep_size(json.loads(json.dumps(body))) / 1024
        figure("a finished LoadTest's body (what kopf keeps per object)", f"{kb:.1f} KB JSON, {parsed:.0f} KB parsed",
               note=f"(x {count} objects = {parsed * count / 1024:.0f} MB of parsed bodies)")  # fmt: skip

    def _create_at_rest(
        self,
        ns: str,
        plural: str,
        manifest: dict[str, Any],
        status: dict[str, Any] | None,
        *,
        deadline: float,
    ) -> bool:
        if time.monotonic() > deadline:
            return False
        for attempt in range(3):
            try:
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, ns, plural, manifest, _preload_content=False
                )
                break
            except client.ApiException as exc:
                if exc.status == 409:
                    break
                time.sleep(1 + attempt)
        else:
            return False
        if status is None:
            return True
        name = manifest["metadata"]["name"]
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, plural, name, {"status": copy.deepcopy(status)}, _preload_content=False
        )
        return True

    def _start_and_settle(self, count: int, what: str) -> Proc:
        """Start the operator and wait until it holds every object at rest (or the deadline: the figure
        says how many it had then, and the phases after it measure what there is)."""
        log_before = len(self.op.log_tail(10**7).splitlines())
        self.op.start()
        assert self.op.proc is not None
        proc = Proc(self.op.proc.pid)
        peak = [0.0]
        cpu0 = proc.cpu_seconds()
        limit = max(SETTLE_DEADLINE_S, count * SETTLE_S_PER_OBJECT)

        began, shown = time.monotonic(), [time.monotonic()]

        def settled() -> bool:
            peak[0] = max(peak[0], proc.rss_mb())
            at_rest = self.metrics.sum("llmload_objects_at_rest")
            if time.monotonic() - shown[0] > 60:
                shown[0] = time.monotonic()
                print(f"  ... {at_rest:.0f}/{count} at rest after {shown[0] - began:.0f} s", flush=True)
            return at_rest >= count

        took = wait(settled, limit, 2)
        cpu = proc.cpu_seconds() - cpu0
        log = self.op.log_tail(10**7).splitlines()[log_before:]
        trouble = sum(" WARNING " in line or " ERROR " in line for line in log)
        note = (f"(operator CPU {cpu:.0f} s, {cpu / max(count, 1) * 1000:.1f} ms per object; peak RSS "
                f"{peak[0]:.0f} MB; {trouble} warnings/errors in its log)")  # fmt: skip
        if took is None:
            at_rest = self.metrics.sum("llmload_objects_at_rest")
            figure(f"{what}: all {count} at rest", f"{at_rest:.0f} after {limit:.0f} s", f"within {limit:.0f} s",
                   False, note)  # fmt: skip
        else:
            figure(f"{what}: {count} objects at rest after", f"{took:.0f} s ({count / max(took, 1):.0f}/s)",
                   note=note)  # fmt: skip
        return proc


def merge() -> None:
    """The operator's merge of 64 shards' results (benchmarks/merge_bench.py): its rows in the table."""
    from benchmarks.merge_bench import SCENARIOS, run

    print("-- benchmarks/merge_bench.py", flush=True)
    for scenario in SCENARIOS:
        ROWS.extend(run(scenario))


def rest_memory() -> None:
    """kopf's processing of finished LoadTests without a cluster (benchmarks/rest_memory.py): what each
    object at rest retains, and what of it is kopf's copy of the body."""
    from benchmarks.rest_memory import run

    print("-- benchmarks/rest_memory.py", flush=True)
    for row in run(500):
        ROWS.append(row)
        print("  " + "  ".join(row), flush=True)


def results_service() -> None:
    """benchmarks/results_bench.py when present (`python -m benchmarks.results_bench`): its figure lines,
    printed as figure() prints them, go into the table."""
    what = "results service, 100,000 runs: list/compare/leaderboard p99"
    script = ROOT / "benchmarks" / "results_bench.py"
    if not script.exists():
        figure(what, "not measured: needs benchmarks/results_bench.py", "< 200 ms")
        return
    print("-- benchmarks/results_bench.py", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.results_bench"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        row = figure_line(line)
        if row is not None:
            ROWS.append(row)
    if proc.wait() != 0:
        figure(what, f"benchmarks/results_bench.py exited {proc.returncode}", met=False)


def figure_line(line: str) -> tuple[str, str, str, str] | None:
    """A line as figure() prints it ("  name: value  target  [met] note"), as a row; None otherwise."""
    if not line.startswith("  ") or ": " not in line:
        return None
    parts = re.split(r"\s{2,}", line.strip())
    name, _, value = parts[0].rpartition(": ")
    if not name:
        return None
    rest = parts[1:]
    verdict = next((i for i, part in enumerate(rest) if part.startswith("[")), len(rest))
    return name, value, "  ".join(rest[:verdict]), "  ".join(rest[verdict:])


def workers() -> None:
    from benchmarks.workers_bench import run

    for name, value, target, verdict in run():
        ROWS.append((name, value, target, verdict))
        print(f"  {name}: {value}  {target}  {verdict}", flush=True)


def node_running() -> bool:
    """Whether the local node is up (hack/cluster-up.sh --status); the benchmark never starts one."""
    status = subprocess.run(["bash", str(ROOT / "hack" / "cluster-up.sh"), "--status"], check=False)
    return status.returncode == 0


def hold(path: str | None, hold_seconds: float) -> None:
    """Wait for the shared node's lock (flock), held until this process exits."""
    if not path:
        return
    lock = open(path, "a")  # noqa: SIM115 (held for the process's life)
    print(f"waiting for the cluster lock {path} ...", flush=True)
    waited = time.monotonic()
    fcntl.flock(lock, fcntl.LOCK_EX)
    print(
        f"holding {path} (waited {time.monotonic() - waited:.0f} s; at most {hold_seconds:.0f} s)", flush=True
    )
    HELD.append(lock)
    # A bounded hold: at the limit the run ends through its clean-up, as under `flock ... timeout`.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"held {path} for {hold_seconds:.0f} s: stopping"))
    signal.alarm(int(hold_seconds))


def main() -> None:
    # `timeout` (or Ctrl-C) ends the run through the clean-up: every namespace it made is deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000, help="finished objects (default 10,000)")
    parser.add_argument("--burst", type=int, default=100, help="LoadTests applied at once (default 100)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle CPU window (default 60)")
    parser.add_argument("--skip-cluster", action="store_true", help="only the local figures and hooks")
    parser.add_argument("--hold-seconds", type=float, default=1800.0,
                        help="longest hold of the lock: then the run cleans up and stops (default 1800)")  # fmt: skip
    parser.add_argument("--skip-local", action="store_true", help="only the cluster figures")
    parser.add_argument("--skip-restart", action="store_true", help="idle figures after the first start")
    parser.add_argument(
        "--lock", help="a lock file shared by the node's users: held for the cluster part only"
    )
    args = parser.parse_args()
    started = time.monotonic()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    if not args.skip_local:
        print("-- load generator --workers (local)", flush=True)
        workers()
        merge()
        rest_memory()
        results_service()
    if not args.skip_cluster:
        hold(args.lock, args.hold_seconds)
        if not use_existing_cluster() and not node_running():
            figure(
                "cluster figures", "not measured: the local node is not running (make cluster-up)", met=False
            )
            args.skip_cluster = True
    try:
        if not args.skip_cluster:
            cluster_figures(args)
    finally:
        print(f"\n== issue 20 figures (took {time.monotonic() - started:.0f} s; load average "
              f"{os.getloadavg()[0]:.1f}) ==")  # fmt: skip
        width = max((len(r[0]) for r in ROWS), default=0)
        for name, value, target, verdict in ROWS:
            print(f"{name:<{width}}  {value:<28} {target:<16} {verdict}")


def cluster_figures(args: argparse.Namespace) -> None:
    cluster = start_cluster()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(cluster, args, Path(tmp))
        try:
            bench.create_namespaces()
            print(f"-- a LoadTest alone (namespace {bench.burst_ns})", flush=True)
            template = bench.solo()
            print(f"-- at rest: {args.objects} finished objects (namespaces {', '.join(bench.rest_ns)})",
                  flush=True)  # fmt: skip
            bench.rest(template)
            print(f"-- burst: {args.burst} LoadTests at once, the operator watching the objects at rest "
                  f"(namespace {bench.burst_ns})", flush=True)  # fmt: skip
            bench.burst()
        finally:
            signal.alarm(0)  # the clean-up runs to its end, whatever the hold's limit
            bench.clean_up()
            print(f"(operator log: {len(bench.op.log_tail(100000).splitlines())} lines; last lines)")
            print(bench.op.log_tail(8))


if __name__ == "__main__":
    main()
