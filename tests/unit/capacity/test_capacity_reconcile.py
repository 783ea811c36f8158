"""The CapacityRecommendation reconcile's I/O orchestration against an in-memory API server: it creates
each child once, writes status only when it changes, scales only when asked, and stores the row."""

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.engine import Engine

from loadtest_operator.core.fetches import FetchPolicy
from loadtest_operator.io.kube import Kube
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.io.store import Store, create_store_engine, list_recommendations, upgrade
from loadtest_operator.reconcile.capacity import reconcile_capacity
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.settings import OperatorSettings
from tests.unit.capacity.specs import PARENT, raw_spec
from tests.unit.capacity.test_plan import finish
from tests.unit.merge_patch import apply_merge_patch
from tests.unit.webhook_config import NAME as WEBHOOK
from tests.unit.webhook_config import configuration

KNEE = 4
NODE = "node-a"


def deployment(ready: int = 1, replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "vllm", "namespace": PARENT.namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "vllm"}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "args": ["--model", "m"],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ]
                }
            },
        },
        "status": {"readyReplicas": ready, "updatedReplicas": ready},
    }


def ready_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "vllm"}},
        "spec": {"nodeName": NODE},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


class FakeKube:
    """Just the calls the capacity reconcile makes, over dicts."""

    def __init__(self, deployment: dict[str, Any] | None) -> None:
        self.deployment_obj = deployment
        self.loadtest_objs: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.scaled: list[int] = []
        self.deleted: list[str] = []
        # The chart's webhook configuration, installed long before this test's objects.
        self.webhook_obj: dict[str, Any] | None = configuration()

    async def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.deployment_obj

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name}, "spec": {"selector": {"app": "vllm"}}}

    async def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return [ready_pod("vllm-0")] if self.deployment_obj else []

    async def node(self, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.product": "NVIDIA-L4"}}}

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def webhook_configuration(self, name: str) -> dict[str, Any] | None:
        return self.webhook_obj if self.webhook_obj and self.webhook_obj["metadata"]["name"] == name else None

    async def namespace(self, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}

    async def loadtests(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(self.loadtest_objs.values())

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        name = manifest["metadata"]["name"]
        if name in self.loadtest_objs:
            return self.loadtest_objs[name]
        self.created.append(name)
        self.loadtest_objs[name] = manifest
        return None

    async def delete(self, namespace: str, kind: str, name: str) -> None:
        if self.loadtest_objs.pop(name, None) is not None:
            self.deleted.append(name)

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        self.scaled.append(replicas)
        if self.deployment_obj is not None:
            self.deployment_obj["spec"]["replicas"] = replicas

    def finish_all(self) -> None:
        for name, obj in self.loadtest_objs.items():
            if "status" not in obj:
                self.loadtest_objs[name] = finish(obj, KNEE)


class Harness:
    def __init__(
        self,
        kube: FakeKube,
        spec: dict[str, Any],
        engine: Engine | None = None,
        settings: OperatorSettings | None = None,
    ) -> None:
        self.kube = kube
        self.ctx = Context(
            kube=cast(Kube, kube),
            settings=settings or OperatorSettings(),
            metrics=OperatorMetrics(),
            store=Store(engine) if engine is not None else None,
            log=logging.getLogger("test"),
        )
        self.body: dict[str, Any] = {
            "metadata": {
                "name": PARENT.name,
                "namespace": PARENT.namespace,
                "uid": PARENT.uid,
                "generation": 1,
                "creationTimestamp": "2026-11-23T05:00:00Z",
            },
            "spec": spec,
        }
        self.events: list[tuple[str, str, str]] = []
        self.tick = 0

    def reconcile(self) -> dict[str, Any]:
        """One tick; the patch is applied to the body as the API server would (a merge patch)."""
        self.tick += 1
        now = datetime(2026, 11, 23, 5, self.tick, tzinfo=UTC)
        patch = asyncio.run(reconcile_capacity(self.ctx, self.body, lambda *e: self.events.append(e), now))
        self.body["status"] = apply_merge_patch(self.body.get("status") or {}, patch)
        return patch

    def ready(self) -> dict[str, Any]:
        return next(c for c in self.body["status"]["conditions"] if c["type"] == "Ready")

    def search(self, limit: int = 30) -> None:
        for _ in range(limit):
            self.reconcile()
            if self.ready()["status"] != "Unknown":
                return
            self.kube.finish_all()
        raise AssertionError("the search did not end")


SPEC = raw_spec(
    workload={"peakConcurrency": 10, "inputTokens": {"mean": 32}, "outputTokens": {"mean": 40}},
    headroomPercent=20,
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_store_engine(str(tmp_path / "llmload.db"))
    upgrade(engine)
    return engine


def test_a_tick_repeated_creates_nothing_twice_and_writes_nothing() -> None:
    h = Harness(FakeKube(deployment()), SPEC)

    first = h.reconcile()
    h.reconcile()  # sees its child running: the trace gains the level
    third = h.reconcile()

    assert len(h.kube.created) == 1
    assert first["conditions"][0]["reason"] == "Searching"
    assert third == {}
    assert [e[1] for e in h.events] == ["Searching"]


def test_the_search_ends_in_the_formulas_recommendation_and_the_store(engine: Engine) -> None:
    h = Harness(FakeKube(deployment()), SPEC, engine)

    h.search()

    status = h.body["status"]
    assert h.ready()["reason"] == "Recommended"
    assert status["measured"]["kneeLevel"] == KNEE
    assert status["recommendation"]["replicas"] == 3  # ceil(10 * 1.2 / (4 / 1))
    assert len(h.kube.created) == len(set(h.kube.created)) == len(status["searchTrace"])
    assert h.kube.scaled == []
    assert h.reconcile() == {}
    rows = list_recommendations(engine)
    assert [(r.name, r.replicas, r.knee_level, r.ready_reason) for r in rows] == [
        (PARENT.name, 3, KNEE, "Recommended")
    ]
    assert sorted(c["name"] for c in rows[0].children or []) == sorted(h.kube.created)
    gauge = h.ctx.metrics.registry.get_sample_value(
        "llmload_capacity_recommended_replicas",
        {"namespace": PARENT.namespace, "capacityrecommendation": PARENT.name, "deployment": "vllm"},
    )
    assert gauge == 3


# An admission webhook checked the author's rights: installed, and older than the object.
REVIEWED = OperatorSettings(admission_webhook=True, webhook_configuration=WEBHOOK)


def scaled(h: Harness) -> dict[str, Any]:
    return next(c for c in h.body["status"]["conditions"] if c["type"] == "Scaled")


def test_scale_deployment_patches_the_replicas_once() -> None:
    h = Harness(
        FakeKube(deployment()), {**SPEC, "scaleDeployment": True, "maxReplicas": 10}, settings=REVIEWED
    )

    h.search()
    h.reconcile()
    h.reconcile()

    assert h.kube.scaled == [3]
    assert "Scaled" in [e[1] for e in h.events]
    assert (scaled(h)["status"], scaled(h)["reason"]) == ("True", "Scaled")


def test_a_recommendation_above_max_replicas_is_capped_and_said_so() -> None:
    h = Harness(
        FakeKube(deployment()), {**SPEC, "scaleDeployment": True, "maxReplicas": 2}, settings=REVIEWED
    )

    h.search()
    h.reconcile()

    assert h.kube.scaled == [2]
    assert (scaled(h)["status"], scaled(h)["reason"]) == ("True", "ScaleCapped")
    assert "3 replicas, above spec.maxReplicas" in scaled(h)["message"]
    assert next(e for e in h.events if e[1] == "ScaleCapped")[0] == "Warning"


def test_scale_deployment_needs_max_replicas() -> None:
    h = Harness(FakeKube(deployment()), {**SPEC, "scaleDeployment": True}, settings=REVIEWED)

    h.reconcile()

    assert (h.ready()["status"], h.ready()["reason"]) == ("False", "InvalidSpec")
    assert "spec.maxReplicas" in h.ready()["message"]
    assert h.kube.created == []


def test_a_recommendation_created_before_the_webhook_scales_only_an_opted_in_deployment() -> None:
    spec = {**SPEC, "scaleDeployment": True, "maxReplicas": 10}
    kube = FakeKube(deployment())
    kube.webhook_obj = configuration(created="2026-11-24T00:00:00Z")  # after the object (11-23)
    refused = Harness(kube, spec, settings=REVIEWED)

    refused.search()
    refused.reconcile()

    assert refused.kube.scaled == []
    assert (scaled(refused)["status"], scaled(refused)["reason"]) == ("False", "ScaleRefused")
    assert (
        "was created at 2026-11-23T05:00:00+00:00, before the admission webhook" in scaled(refused)["message"]
    )
    assert "kubectl label deployment vllm llmload.io/allow-loadtest=true" in scaled(refused)["message"]
    assert refused.body["status"]["recommendation"]["replicas"] == 3  # published all the same

    opted = deployment()
    opted["metadata"]["labels"] = {"llmload.io/allow-loadtest": "true"}
    kube = FakeKube(opted)
    kube.webhook_obj = configuration(created="2026-11-24T00:00:00Z")
    allowed = Harness(kube, spec, settings=REVIEWED)
    allowed.search()
    allowed.reconcile()
    assert allowed.kube.scaled == [3]


def test_a_deleted_webhook_configuration_reviews_nothing() -> None:
    kube = FakeKube(deployment())
    kube.webhook_obj = None
    h = Harness(kube, {**SPEC, "scaleDeployment": True, "maxReplicas": 10}, settings=REVIEWED)
    h.search()
    h.reconcile()
    assert h.kube.scaled == []
    assert f"the ValidatingWebhookConfiguration '{WEBHOOK}' does not exist" in scaled(h)["message"]


def test_without_a_webhook_only_an_opted_in_deployment_is_scaled() -> None:
    spec = {**SPEC, "scaleDeployment": True, "maxReplicas": 10}
    refused = Harness(FakeKube(deployment()), spec)  # no webhook, no label

    refused.search()
    refused.reconcile()

    assert refused.kube.scaled == []
    assert (scaled(refused)["status"], scaled(refused)["reason"]) == ("False", "ScaleRefused")
    assert "llmload.io/allow-loadtest=true" in scaled(refused)["message"]
    assert refused.ready()["reason"] == "Recommended"  # the recommendation itself stands

    labelled = deployment()
    labelled["metadata"]["labels"] = {"llmload.io/allow-loadtest": "true"}
    allowed = Harness(FakeKube(labelled), spec)
    allowed.search()
    allowed.reconcile()
    assert allowed.kube.scaled == [3]


def test_a_deployment_the_service_does_not_route_to_is_refused() -> None:
    other = deployment()
    other["spec"]["selector"] = {"matchLabels": {"app": "something-else"}}
    h = Harness(FakeKube(other), {**SPEC, "scaleDeployment": True, "maxReplicas": 10}, settings=REVIEWED)

    h.reconcile()

    assert (h.ready()["status"], h.ready()["reason"]) == ("False", "DeploymentNotBehindTarget")
    assert "does not back Service" in h.ready()["message"]
    assert h.kube.created == []
    assert h.kube.scaled == []


def test_a_missing_deployment_is_target_unavailable_and_creates_nothing() -> None:
    h = Harness(FakeKube(None), SPEC)

    h.reconcile()

    assert (h.ready()["status"], h.ready()["reason"]) == ("False", "TargetUnavailable")
    assert "vllm" in h.ready()["message"]
    assert h.kube.created == []


def test_a_spec_that_does_not_parse_is_invalid_spec_with_one_event() -> None:
    h = Harness(FakeKube(deployment()), {**SPEC, "headroomPercent": "lots"})

    h.reconcile()
    again = h.reconcile()

    assert (h.ready()["status"], h.ready()["reason"]) == ("False", "InvalidSpec")
    assert "headroomPercent" in h.ready()["message"]
    assert again == {}
    assert [e[1] for e in h.events] == ["InvalidSpec"]
    assert h.kube.created == []


def test_a_prometheus_the_chart_does_not_allow_is_never_queried() -> None:
    spec = raw_spec(workload={"fromPrometheus": {"windowSeconds": 3600}})
    h = Harness(FakeKube(deployment()), {**spec, "prometheus": {"url": "http://169.254.169.254:80"}})

    h.reconcile()

    assert (h.ready()["status"], h.ready()["reason"]) == ("False", "PrometheusUnavailable")
    assert "'http://169.254.169.254:80' is not a Prometheus the operator may query" in h.ready()["message"]


def test_from_prometheus_without_prometheus_says_so() -> None:
    spec = raw_spec(workload={"fromPrometheus": {"windowSeconds": 3600}})
    h = Harness(FakeKube(deployment()), {**spec, "prometheus": {"url": "http://127.0.0.1:9"}})
    h.ctx.fetches = FetchPolicy(allowed_prometheus_urls=("http://127.0.0.1:9",))

    h.reconcile()

    assert (h.ready()["status"], h.ready()["reason"]) == ("False", "PrometheusUnavailable")
    assert "127.0.0.1:9" in h.ready()["message"]
    assert h.kube.created == []


def test_an_edit_of_what_is_measured_stops_the_running_child_of_the_old_search() -> None:
    h = Harness(FakeKube(deployment()), SPEC)
    h.reconcile()
    first_child = h.kube.created[0]

    h.body["spec"] = raw_spec(
        workload={"peakConcurrency": 10, "inputTokens": {"mean": 64}, "outputTokens": {"mean": 40}},
        headroomPercent=20,
    )  # longer prompts: another measurement
    h.reconcile()

    assert h.kube.deleted == [first_child]
    assert first_child not in h.kube.loadtest_objs
    assert len(h.kube.created) == 2  # one child of the new search, never two running at once
