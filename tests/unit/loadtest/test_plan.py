"""The LoadTest reconcile, tick by tick, against an in-memory API server: the pure plan through the real
observer and executor, without a cluster. Every stage of a run (start, shards starting and running,
progress, results, store), a shard that fails or whose Job is deleted, an operator restart at every tick,
a database outage, deletion, and a refused spec."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from loadgen.compact import encode_compact
from loadtest_operator.api import LevelResult, LoadTestSpec
from loadtest_operator.core.conditions import MAX_CONDITION_MESSAGE, fit_message
from loadtest_operator.core.plan import InStore, RecommendationRecord, RunRecord
from loadtest_operator.io.addresses import Pin
from loadtest_operator.io.kube import Kube, KubeError
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.io.openai import ModelDiscovery
from loadtest_operator.io.store import Store, StoreRejectedError, StoreUnavailableError
from loadtest_operator.loadtest.builders.deadline import shard_deadline_seconds
from loadtest_operator.loadtest.builders.labels import SHARD_LABEL
from loadtest_operator.loadtest.observed import Reads, reads
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.executor import forget
from loadtest_operator.reconcile.guard import Outcome, backoff_seconds, guarded
from loadtest_operator.reconcile.loadtest import reconcile_loadtest
from loadtest_operator.reconcile.settings import OperatorSettings
from tests.unit.loadgen.helpers import level_from_rows, run_of, zlib_bomb
from tests.unit.merge_patch import apply_merge_patch
from tests.unit.operator.specs import OWNER, VALID_SPEC, merged

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPEC = merged(VALID_SPEC, {"load": {"levels": [4, 8]}})


def matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (term.split("=", 1) for term in selector.split(",") if term))


class FakeKube:
    """The API server as the LoadTest reconcile sees it: the target's objects and the run's children."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.created: list[tuple[str, str]] = []
        self.deleted: list[tuple[str, str]] = []
        self.patched: list[tuple[str, dict[str, str]]] = []
        self.logs: dict[str, str] = {}
        self.put(
            {
                "kind": "Service",
                "metadata": {"name": "vllm"},
                "spec": {"clusterIP": "198.19.0.10", "selector": {"app": "vllm"}, "ports": [{"port": 8000}]},
            }
        )
        self.put(
            {
                "kind": "Pod",
                "metadata": {"name": "vllm-0", "labels": {"app": "vllm"}},
                "spec": {
                    "nodeName": "node-a",
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai:v0.9.1",
                            "args": ["--model", "meta-llama/Llama-3.1-8B", "-tp", "1", "--api-key", "sk-x"],
                            "resources": {"limits": {"nvidia.com/gpu": 1}},
                        }
                    ],
                },
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
        self.put({"kind": "Node", "metadata": {"name": "node-a", "labels": {"nvidia.com/gpu.product": "L4"}}})

    def put(self, obj: dict[str, Any]) -> None:
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj

    async def webhook_configuration(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(("ValidatingWebhookConfiguration", name))

    async def namespace(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(("Namespace", name))

    async def capacity_recommendation(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("CapacityRecommendation", name))

    def kind(self, kind: str, selector: str = "") -> list[dict[str, Any]]:
        return [o for (k, _), o in sorted(self.objects.items()) if k == kind and matches(o, selector)]

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("Service", name))

    async def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.kind("Pod", selector)

    async def node(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(("Node", name))

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("Secret", name))

    async def configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("ConfigMap", name))

    async def configmaps(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.kind("ConfigMap", selector)

    async def jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.kind("Job", selector)

    async def events(self, namespace: str, kind: str, name: str, limit: int = 20) -> list[dict[str, Any]]:
        return [e for e in self.kind("Event") if e["involvedObject"] == {"kind": kind, "name": name}][:limit]

    async def pod_log_tail(self, namespace: str, pod: str, lines: int = 20) -> str:
        return self.logs.get(pod, "")

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        key = (manifest["kind"], manifest["metadata"]["name"])
        if key in self.objects:
            return self.objects[key]
        self.objects[key] = json.loads(json.dumps(manifest))
        self.created.append(key)
        return None

    async def delete(self, namespace: str, kind: str, name: str) -> None:
        if self.objects.pop((kind, name), None) is not None:
            self.deleted.append((kind, name))

    async def patch_config_map_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        cm = self.objects.get(("ConfigMap", name))
        if cm is not None:
            cm["data"] = {**(cm.get("data") or {}), **data}
            self.patched.append((name, dict(data)))

    # -- what the Job controller, the kubelet and the shards do -----------------------------------------
    def shard_jobs(self) -> list[dict[str, Any]]:
        return self.kind("Job")

    def start_pods(self) -> None:
        for job in self.shard_jobs():
            labels = job["spec"]["template"]["metadata"]["labels"]
            name = f"{job['metadata']['name']}-pod"
            self.put(
                {"kind": "Pod", "metadata": {"name": name, "labels": labels}, "status": {"phase": "Running"}}
            )

    def report(self, shard: int, **data: str) -> None:
        cm = next(
            c
            for c in self.kind("ConfigMap")
            if (c["metadata"]["labels"] or {}).get(SHARD_LABEL) == str(shard)
        )
        cm["data"] = {**(cm.get("data") or {}), **data}

    def report_progress(self, completed: int, level_index: int) -> None:
        for shard in range(len(self.shard_jobs())):
            self.report(shard, progress=json.dumps({"completed": completed, "levelIndex": level_index}))

    def finish(
        self, shard: int, result: str | None = None, levels: int = len(SPEC["load"]["levels"])
    ) -> None:
        level_results = [
            level_from_rows([(50_000, 700_000, 128, 512, 0)] * 100, start=1000.0 + 20 * i, end=1010.0 + 20 * i,
                            offered_load=level // 2)
            for i, level in enumerate(SPEC["load"]["levels"][:levels])
        ]  # fmt: skip
        for i, lv in enumerate(level_results):
            level_results[i] = lv.model_copy(update={"index": i})
        self.report(shard, result=result or encode_compact(run_of(level_results)))
        job = self.job(shard)
        job["status"] = {"succeeded": 1}
        pod = self.objects[("Pod", f"{job['metadata']['name']}-pod")]
        pod["status"] = {"phase": "Succeeded"}

    def job(self, shard: int) -> dict[str, Any]:
        return next(j for j in self.shard_jobs() if j["metadata"]["labels"][SHARD_LABEL] == str(shard))


class FakeStore:
    """The database: what it holds (finished runs by uid and runId), every write and every question."""

    def __init__(self) -> None:
        self.down = False
        self.refuse = False  # the database is up and refuses the values (a permanent data error)
        self.writes: list[RunRecord | RecommendationRecord] = []
        self.final: set[tuple[str, int]] = set()
        self.refused: set[tuple[str, int]] = set()
        self.questions = 0
        self.attempts = 0
        self.empty_databases = 0

    def restart(self) -> None:
        """A new operator process: the store's memory of what it refused is gone (the database stays)."""
        self.refused.clear()

    async def write(self, record: RunRecord | RecommendationRecord) -> None:
        self.attempts += 1
        if self.down:
            raise StoreUnavailableError("connection refused")
        key = (record.uid, record.spec.run_id) if isinstance(record, RunRecord) else None
        if self.refuse:
            if key is not None:
                self.refused.add(key)
            raise StoreRejectedError("value too long for type character varying(512)")
        self.writes.append(record)
        if key is not None and isinstance(record, RunRecord) and record.levels is not None:
            self.final.add(key)

    async def run_in_store(self, uid: str, run_id: int) -> InStore:
        if (uid, run_id) in self.refused:
            return InStore.REJECTED  # what the real Store remembers of a refusal, per process
        self.questions += 1
        if self.down:
            return InStore.UNKNOWN
        return InStore.STORED if (uid, run_id) in self.final else InStore.MISSING

    def forget(self, uid: str) -> None:
        pass


class FakeModels(ModelDiscovery):
    async def first_model(self, target: Pin) -> str | None:
        return "discovered-model"

    async def server_version(self, target: Pin) -> str | None:
        return "0.9.1"


class Harness:
    def __init__(self, spec: dict[str, Any] | None = None, store: bool = True) -> None:
        self.kube = FakeKube()
        self.store = FakeStore() if store else None
        self.events: list[tuple[str, str, str]] = []
        self.metrics = OperatorMetrics()
        self.ctx = self.new_context()
        self.body: dict[str, Any] = {
            "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid, "generation": 1},
            "spec": spec if spec is not None else SPEC,
        }
        self.now = T0

    def new_context(self) -> Context:
        """The operator as it starts: nothing remembered (an operator restart)."""
        return Context(
            kube=cast(Kube, self.kube),
            settings=OperatorSettings(),
            metrics=self.metrics,
            store=cast(Store, self.store),
            models=FakeModels(),
            log=logging.getLogger("test"),
        )

    def tick(self, *, lose_status: bool = False) -> dict[str, Any]:
        """One reconcile; its status patch is applied as the API server would (unless the operator dies
        before writing it)."""
        self.now += timedelta(seconds=5)
        patch = asyncio.run(
            reconcile_loadtest(self.ctx, self.body, lambda *e: self.events.append(e), self.now)
        )
        if not lose_status:
            self.body["status"] = apply_merge_patch(self.body.get("status") or {}, patch)
        return patch

    def condition(self, type_: str) -> tuple[str, str]:
        found = next(c for c in self.body["status"]["conditions"] if c["type"] == type_)
        return found["status"], found["reason"]

    def reasons(self) -> list[str]:
        return [e[1] for e in self.events]


Step = Callable[[Harness], None]

RUN: list[tuple[str, Step]] = [
    ("applied", lambda h: None),
    ("jobs created, no pod yet", lambda h: None),
    ("shard pods running", lambda h: h.kube.start_pods()),
    ("progress reported", lambda h: h.kube.report_progress(completed=50, level_index=0)),
    ("shard 0 finished", lambda h: h.kube.finish(0)),
    ("shard 1 finished", lambda h: h.kube.finish(1)),
    ("finished, idle", lambda h: None),
]  # fmt: skip


def run(h: Harness, *, restart_each_tick: bool = False) -> list[dict[str, Any]]:
    patches = []
    for _, step in RUN:
        step(h)
        if restart_each_tick:
            # The operator acts, dies before its status write lands, and a new process ticks again.
            h.tick(lose_status=True)
            h.ctx = h.new_context()
        patches.append(h.tick())
    return patches


def test_a_run_from_apply_to_stored_tick_by_tick() -> None:
    h = Harness()
    applied, starting, running, progress, one_done, done, idle = run(h)

    assert applied["phase"] == "Running"
    assert applied["target"]["pods"] == [{"name": "vllm-0", "node": "node-a", "gpus": 1}]
    # What the target was, from its pods and GET /version; never the raw arguments (an --api-key).
    assert applied["fingerprint"] == {
        "vllmVersion": "0.9.1",
        "serving": [
            {
                "pods": ["vllm-0"],
                "container": "vllm",
                "image": "vllm/vllm-openai:v0.9.1",
                "model": "meta-llama/Llama-3.1-8B",
                "tensorParallelSize": 1,
            }
        ],
        "consistent": True,
        "nodes": ["node-a"],
    }
    assert "sk-x" not in json.dumps(h.body["status"])
    kinds = sorted(k for k, _ in h.kube.created)
    assert kinds == ["ConfigMap"] * 3 + ["Job"] * 2 + ["Role", "RoleBinding", "ServiceAccount"]
    assert starting == {}  # nothing changed, nothing written
    assert running["conditions"][1]["reason"] == "ShardsRunning"
    assert progress == {
        "progress": {
            "completedRequests": 100,
            "currentLevel": 4,
            "currentLevelIndex": 0,
            "levelCompletedRequests": 0,
        }
    }
    assert done["progress"]["currentLevel"] is None  # a merge patch must clear what it drops
    assert "currentLevel" not in h.body["status"]["progress"]
    assert h.condition("Succeeded") == ("True", "Completed")
    assert h.condition("Stored") == ("True", "Stored")
    assert h.condition("GpuMetricsAvailable") == ("False", "PrometheusNotConfigured")
    assert h.condition("ServerAgreement") == ("Unknown", "NoServerFigures")
    assert h.body["status"]["validation"] == {"tolerancePercent": 5, "checks": 0, "failed": 0}
    assert [lv["requests"] for lv in h.body["status"]["levels"]] == [200, 200]
    assert one_done == {"progress": {"shardsSucceeded": 1}}
    assert idle == {}
    assert h.reasons() == ["Started", "Running", "Completed"]
    assert h.store is not None
    assert [w.levels is None for w in h.store.writes if isinstance(w, RunRecord)] == [True, False]
    assert h.metrics.registry.get_sample_value("llmload_runs_total", {"outcome": "Completed"}) == 1


def test_an_operator_restart_at_every_tick_loses_and_duplicates_nothing() -> None:
    calm, restarted = Harness(), Harness()
    run(calm)
    run(restarted, restart_each_tick=True)

    assert len(restarted.kube.created) == len(set(restarted.kube.created)) == len(calm.kube.created)
    strip = {"lastTransitionTime"}

    def same(status: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in status.items() if k not in {"startTime", "completionTime"}}
        out["conditions"] = [{k: v for k, v in c.items() if k not in strip} for c in status["conditions"]]
        return out

    assert same(restarted.body["status"]) == same(calm.body["status"])
    assert restarted.condition("Stored") == ("True", "Stored")


def test_a_failed_shard_fails_the_run_with_its_log_and_stops_the_other() -> None:
    h = Harness()
    for _ in range(2):
        h.tick()
    h.kube.start_pods()
    h.tick()
    failed, other = h.kube.job(1), h.kube.job(0)["metadata"]["name"]
    failed["status"] = {
        "failed": 1,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }
    pod = h.kube.objects[("Pod", f"{failed['metadata']['name']}-pod")]
    pod["status"] = {
        "phase": "Failed",
        "containerStatuses": [{"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}],
    }
    h.kube.logs[pod["metadata"]["name"]] = "Traceback ...\nConnectionRefusedError: the target said no"
    h.tick()

    assert h.condition("Succeeded") == ("False", "ShardFailed")
    message = next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Succeeded")
    assert "exit code 3" in message
    assert "the target said no" in message
    assert h.kube.deleted == [("Job", other)]
    assert h.reasons()[-1] == "ShardFailed"
    assert h.tick() == {}  # finished: nothing more


def test_a_deleted_shard_job_is_shard_deleted() -> None:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    h.tick()
    del h.kube.objects[("Job", h.kube.job(0)["metadata"]["name"])]
    h.tick()

    assert h.condition("Succeeded") == ("False", "ShardDeleted")


def test_a_database_outage_is_stored_false_until_the_store_is_back() -> None:
    h = Harness()
    assert h.store is not None
    h.store.down = True
    run(h)
    assert h.condition("Succeeded") == ("True", "Completed")
    assert h.condition("Stored") == ("False", "DatabaseUnavailable")
    assert "connection refused" in next(
        c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Stored"
    )

    h.tick()  # still down: retried, still False, nothing else changes
    assert h.store.writes == []
    h.store.down = False
    h.tick()

    assert h.condition("Stored") == ("True", "Stored")
    assert [len(w.levels or ()) for w in h.store.writes if isinstance(w, RunRecord)] == [2]
    assert h.tick() == {}


def test_a_loadtest_being_deleted_creates_nothing_and_writes_nothing() -> None:
    h = Harness()
    h.body["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"

    assert h.tick() == {}
    assert h.kube.created == []
    assert reads(h.body["spec"], {}, deleting=True) is Reads.NOTHING


def test_a_refused_spec_is_reported_once_and_creates_nothing() -> None:
    h = Harness(merged(SPEC, {"load": {"levels": [8, 4]}}))

    first = h.tick()
    second = h.tick()

    assert h.condition("Accepted") == ("False", "LevelsNotSorted")
    assert first["phase"] == "Rejected"
    assert second == {}
    assert h.reasons() == ["LevelsNotSorted"]
    assert h.kube.created == []


def test_a_missing_service_is_refused_with_its_name() -> None:
    h = Harness()
    del h.kube.objects[("Service", "vllm")]
    h.tick()

    assert h.condition("Accepted") == ("False", "ServiceNotFound")


def test_the_model_is_discovered_when_the_spec_names_none() -> None:
    spec = merged(SPEC, {"target": {"serviceRef": {"name": "vllm", "port": 8000}}})
    del spec["target"]["model"]
    h = Harness(spec)
    h.tick()

    assert h.body["status"]["target"]["model"] == "discovered-model"
    config = json.loads(
        next(c for c in h.kube.kind("ConfigMap") if c["metadata"]["name"].endswith("-config"))["data"][
            "run-config.json"
        ]
    )
    assert config["model"] == "discovered-model"


@pytest.mark.parametrize("store", [True, False])
def test_a_run_without_a_store_never_mentions_one(store: bool) -> None:
    h = Harness(store=store)
    run(h)
    types = [c["type"] for c in h.body["status"]["conditions"]]
    assert ("Stored" in types) is store


class QuotaKube(FakeKube):
    """An API server whose ResourceQuota refuses Jobs until `quota_lifted`."""

    quota_lifted = False

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        if manifest["kind"] == "Job" and not self.quota_lifted:
            refusal = ApiException(status=403, reason="Forbidden")
            refusal.body = json.dumps(
                {"message": 'jobs "x" is forbidden: exceeded quota: jobs, limited: count/jobs.batch=0'}
            )
            raise KubeError(f"creating Job {manifest['metadata']['name']}", refusal)
        return await super().create(manifest)


def guarded_tick(h: Harness, retry: int) -> Outcome:
    h.now += timedelta(seconds=5)
    outcome = asyncio.run(
        guarded(h.ctx, "LoadTest", h.body, reconcile_loadtest, lambda *e: h.events.append(e),
                retry=retry, interval=3.0, now=h.now)
    )  # fmt: skip
    h.body["status"] = apply_merge_patch(h.body.get("status") or {}, outcome.status_patch)
    return outcome


def test_an_error_no_condition_covers_is_stalled_in_status_backed_off_and_recovered() -> None:
    h = Harness()
    h.kube = QuotaKube()
    h.ctx = h.new_context()

    first = guarded_tick(h, retry=0)
    second = guarded_tick(h, retry=1)

    assert h.condition("Stalled") == ("True", "ReconcileError")
    message = next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Stalled")
    assert "exceeded quota" in message
    assert (first.retry_in, second.retry_in) == (5.0, 10.0)  # backs off, never a tight silent loop
    assert h.reasons().count("ReconcileError") == 1  # one Event per distinct error, not per retry

    h.kube.quota_lifted = True
    healed = guarded_tick(h, retry=2)

    assert healed.retry_in is None
    assert h.condition("Stalled") == ("False", "Recovered")
    assert h.condition("Accepted") == ("True", "Valid")
    assert sorted(k for k, _ in h.kube.created).count("Job") == 2


def test_backoff_doubles_to_five_minutes() -> None:
    assert [backoff_seconds(n, 3.0) for n in (0, 1, 2, 6, 7, 40)] == [5.0, 10.0, 20.0, 300.0, 300.0, 300.0]


def test_edits_after_the_start_change_nothing_but_run_id() -> None:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    # Fewer shards, fewer levels, another target: the run goes on as it started.
    h.body["spec"] = merged(SPEC, {"load": {"levels": [4]}, "loadGenerator": {"parallelism": 1}})
    h.tick()
    h.kube.finish(0)
    h.kube.finish(1)
    h.tick()

    assert h.condition("Succeeded") == ("True", "Completed")
    assert [lv["level"] for lv in h.body["status"]["levels"]] == [4, 8]
    assert h.body["status"]["progress"]["shardsSucceeded"] == 2
    assert h.store is not None
    final = [w for w in h.store.writes if isinstance(w, RunRecord) and w.levels is not None][-1]
    assert final.spec.load_generator.parallelism == 2  # the store keeps the spec the run ran with


def test_a_run_id_change_stops_the_old_shards_before_the_new_run_starts() -> None:
    h = Harness()
    h.tick()
    h.kube.start_pods()
    h.tick()
    old_jobs = sorted(name for kind, name in h.kube.created if kind == "Job")

    h.body["spec"] = merged(SPEC, {"runId": 1})
    h.tick()

    assert sorted(name for kind, name in h.kube.deleted) == old_jobs
    assert h.body["status"]["runId"] == 1
    assert h.condition("Running") == ("True", "ShardsStarting")
    new_jobs = [name for kind, name in h.kube.created if kind == "Job" and name not in old_jobs]
    assert len(new_jobs) == 2


def test_the_operator_ends_a_run_past_its_deadline_even_when_the_jobs_never_started_theirs() -> None:
    h = Harness()
    h.tick()  # Jobs created; their pods never appear (no deadline of the Job's ever starts)
    h.tick()
    h.now += timedelta(seconds=shard_deadline_seconds(LoadTestSpec.model_validate(SPEC)) + 120)
    h.tick()

    assert h.condition("Succeeded") == ("False", "DeadlineExceeded")
    assert sorted(name for kind, name in h.kube.deleted) == sorted(
        name for kind, name in h.kube.created if kind == "Job"
    )


def test_a_condition_message_never_exceeds_the_api_limit() -> None:
    long = "x" * 40_000
    cut = fit_message(long)
    assert len(cut) == MAX_CONDITION_MESSAGE
    assert cut.endswith("characters cut)")
    assert fit_message("short") == "short"


def test_a_shard_pod_refused_by_a_quota_fails_the_run_with_the_api_servers_words() -> None:
    h = Harness()
    h.tick()
    job = h.kube.job(1)["metadata"]["name"]
    h.kube.put(
        {
            "kind": "Event",
            "metadata": {"name": f"{job}.1"},
            "involvedObject": {"kind": "Job", "name": job},
            "reason": "FailedCreate",
            "message": 'Error creating: pods "x" is forbidden: exceeded quota: cpu, requested: requests.cpu=1',
        }
    )
    h.tick()

    assert h.condition("Succeeded") == ("False", "ShardPodRefused")
    message = next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Succeeded")
    assert "exceeded quota" in message
    assert len(h.kube.deleted) == 2  # both shards' Jobs stopped


def test_a_deleted_loadtest_takes_its_gauges_with_it() -> None:
    h = Harness()
    run(h)
    sample = {"namespace": OWNER.namespace, "loadtest": OWNER.name, "model": "m", "level": "4"}
    assert h.metrics.registry.get_sample_value("llmload_level_requests_per_second", sample) is not None

    forget(h.ctx, OWNER.uid, OWNER.namespace, OWNER.name)

    assert h.metrics.registry.get_sample_value("llmload_level_requests_per_second", sample) is None
    assert h.metrics.registry.get_sample_value("llmload_runs_total", {"outcome": "Completed"}) == 1


def _plant(kind: str, suffix: str) -> tuple[Harness, str]:
    """A fresh node where an object of `kind` already has the run's child name ending in `suffix`."""
    h = Harness()
    h.tick(lose_status=True)  # learn the run's names, as anyone with list rights could
    planted = next(name for k, name in h.kube.created if k == kind and name.endswith(suffix))
    h.kube = FakeKube()
    h.kube.put({"kind": kind, "metadata": {"name": planted}, "data": {"run-config.json": "{}"}})
    h.ctx = h.new_context()
    return h, planted


def test_an_object_planted_under_a_childs_name_fails_the_run_and_is_never_used() -> None:
    h, planted = _plant("ConfigMap", "-config")

    outcome = guarded_tick(h, retry=0)

    assert outcome.retry_in is None  # not an error to retry
    assert h.condition("Accepted") == ("False", "ChildNotOwned")
    assert h.condition("Succeeded") == ("False", "ChildNotOwned")
    message = next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Accepted")
    assert f"ConfigMap {planted} already exists and is not owned by this LoadTest" in message
    assert "spec.runId" in message
    assert not [kind for kind, _ in h.kube.created if kind == "Job"]  # no shard ever runs its config
    h.tick()
    assert not [kind for kind, _ in h.kube.created if kind == "Job"]  # refused once, not retried


def test_a_planted_job_stops_the_shards_created_before_it_and_is_left_alone() -> None:
    h, planted = _plant("Job", "-shard-1")

    guarded_tick(h, retry=0)

    assert h.condition("Succeeded") == ("False", "ChildNotOwned")
    ours = [name for kind, name in h.kube.created if kind == "Job"]
    assert ours == [planted.replace("-shard-1", "-shard-0")]
    assert h.kube.deleted == [("Job", ours[0])]  # the shard it had started stops; the planted Job stays


def _started(h: Harness) -> None:
    for _ in range(2):
        h.tick()
    h.kube.start_pods()
    h.tick()


def _succeeded_message(h: Harness) -> str:
    return str(next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Succeeded"))


@pytest.mark.parametrize(
    ("result", "words"),
    [
        (zlib_bomb(64), "inflates past"),  # 87 KB of text, 64 MiB of zeros: a list of 512 MiB unbounded
        ("lg1:" + "QUJD" * 100, "corrupt"),  # base64 of something that is not zlib
        ('{"levels": []}', "not a compact loadgen result"),
    ],
    ids=["zlib bomb", "garbage", "foreign"],
)
def test_a_shard_result_that_cannot_be_read_fails_the_run_in_one_tick(result: str, words: str) -> None:
    h = Harness()
    _started(h)
    h.kube.finish(0)
    h.kube.finish(1, result=result)
    h.tick()  # no exception: the observer hands the plan the shard's failure

    assert h.condition("Succeeded") == ("False", "ResultUnreadable")
    message = _succeeded_message(h)
    assert message.startswith("shard 1 wrote a result that cannot be read: ")
    assert words in message
    assert h.reasons()[-1] == "ResultUnreadable"
    assert h.metrics.registry.get_sample_value("llmload_runs_total", {"outcome": "ResultUnreadable"}) == 1
    assert h.tick() == {}  # finished: the result is not read again


def test_an_unreadable_shard_is_a_failed_shard_when_partial_results_are_allowed() -> None:
    h = Harness(merged(SPEC, {"loadGenerator": {"parallelism": 2, "minSucceededShards": 1}}))
    _started(h)
    h.kube.finish(0, result="lg1:AAAA")
    h.kube.finish(1)
    h.tick()

    assert h.condition("Succeeded") == ("True", "Completed")
    assert h.body["status"]["summary"].endswith("(partial: 1 of 2 shards)")
    assert h.body["status"]["progress"]["shardsFailed"] == 1


def test_shard_results_that_do_not_merge_fail_the_run() -> None:
    h = Harness()
    _started(h)
    h.kube.finish(0)
    h.kube.finish(1, levels=1)  # a result of another run: one level, where this run has two
    h.tick()

    assert h.condition("Succeeded") == ("False", "ResultUnreadable")
    assert _succeeded_message(h) == (
        "shard 0: the shards' results do not merge: results have different numbers of levels: [1, 2]"
    )


def final_writes(store: FakeStore | None) -> list[RunRecord]:
    assert store is not None
    return [w for w in store.writes if isinstance(w, RunRecord) and w.levels is not None]


def restart_on(h: Harness, store: FakeStore) -> None:
    """The operator restarts on `store` (a new, empty one: the emptyDir went with the old pod)."""
    h.store = store
    h.ctx = h.new_context()


def test_operator_restarts_with_an_empty_store_every_finished_run_is_stored_again() -> None:
    completed = Harness()
    refused = Harness(merged(SPEC, {"load": {"levels": [8, 4]}}))
    outage = Harness()  # finished while the database was down: Stored=False
    run(completed)
    refused.tick()
    assert outage.store is not None
    outage.store.down = True
    run(outage)
    assert completed.condition("Stored") == refused.condition("Stored") == ("True", "Stored")
    assert outage.condition("Stored") == ("False", "DatabaseUnavailable")

    for h in (completed, refused, outage):
        restart_on(h, FakeStore())
        h.tick()
        # The store lacked the run, whatever the condition said: written again, levels and all.
        (record,) = final_writes(h.store)
        assert record.levels == tuple(
            LevelResult.model_validate(lv) for lv in h.body["status"].get("levels", [])
        )
        assert h.condition("Stored") == ("True", "Stored")
        # Held now: nothing more is written, and nothing in status changes.
        assert h.tick() == {}
        assert len(final_writes(h.store)) == 1
    assert final_writes(refused.store)[0].phase == "Rejected"


def test_a_store_that_cannot_be_asked_after_a_restart_leaves_stored_true_until_it_answers() -> None:
    h = Harness()
    run(h)
    store = FakeStore()
    store.down = True
    restart_on(h, store)

    assert h.tick() == {}  # the condition stands: nothing to retry yet, no status churn
    assert h.condition("Stored") == ("True", "Stored")
    assert store.attempts == 0
    store.down = False
    h.tick()

    assert len(final_writes(store)) == 1
    assert h.condition("Stored") == ("True", "Stored")


def test_refused_values_are_store_rejected_and_not_resent_until_a_restart() -> None:
    h = Harness()
    assert h.store is not None
    h.store.refuse = True
    run(h)

    status, reason = h.condition("Stored")
    assert (status, reason) == ("False", "StoreRejected")
    message = next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == "Stored")
    assert "character varying(512)" in message
    assert h.condition("Succeeded") == ("True", "Completed")  # the run itself is fine
    attempts = h.store.attempts
    for _ in range(3):
        assert h.tick() == {}
    assert h.store.attempts == attempts  # not every tick forever

    # An operator upgrade (say, with wider columns) starts a new process: one more try, and it lands.
    h.store.refuse = False
    h.store.restart()
    restart_on(h, h.store)
    h.tick()
    assert h.condition("Stored") == ("True", "Stored")
    assert len(final_writes(h.store)) == 1


def run_config_of(h: Harness) -> dict[str, Any]:
    config_map = next(c for c in h.kube.kind("ConfigMap") if c["metadata"]["name"].endswith("-config"))
    loaded: dict[str, Any] = json.loads(config_map["data"]["run-config.json"])
    return loaded


def test_each_run_gets_its_own_seed_recorded_and_a_given_seed_repeats_it() -> None:
    first = Harness()
    first.tick()
    seed = first.body["status"]["seed"]
    assert run_config_of(first)["seed"] == seed

    bumped = Harness(merged(SPEC, {"runId": 1}))
    bumped.tick()
    assert bumped.body["status"]["seed"] != seed  # a new run, new prompts

    again = Harness(merged(SPEC, {"runId": 1, "loadGenerator": {"seed": seed}}))
    again.tick()
    assert (again.body["status"]["seed"], run_config_of(again)["seed"]) == (seed, seed)


def test_ramp_up_and_saturation_thresholds_reach_the_load_generator() -> None:
    spec = merged(
        SPEC,
        {
            "load": {"rampUpSeconds": 30},
            "loadGenerator": {"saturation": {"scheduleLagMillisecondsP99": 50, "loopLagMillisecondsP99": 40}},
        },
    )
    h = Harness(spec)
    h.tick()

    config = run_config_of(h)
    assert config["ramp_up_seconds"] == 30
    assert config["saturation"]["schedule_lag_p99_ms"] == 50
    assert config["saturation"]["loop_lag_p99_ms"] == 40
    assert "loop_lag_p50_ms" not in config["saturation"]  # unset: left to loadgen (2 ms)


def test_ramp_up_in_rate_mode_is_refused() -> None:
    spec = merged(SPEC, {"load": {"mode": "Rate", "rampUpSeconds": 30}})
    h = Harness(spec)
    h.tick()
    assert h.condition("Accepted") == ("False", "RampUpNeedsConcurrencyMode")
