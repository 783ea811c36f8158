"""The results service in the chart: its own Deployment and Service, its two review rights, Pod Security
restricted, and what SQLite forces (one pod, on the operator's node, on the history claim)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.integration.chart.test_chart import CHART, by_kind, helm_bin, render, rule_table

__all__ = ["helm_bin"]

pytestmark = pytest.mark.integration


def results_objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        d
        for d in by_kind(docs, kind)
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "results"
    ]


def test_results_service_by_default_on_the_sqlite_claim(helm_bin: str) -> None:
    docs = render(helm_bin)
    (deploy,) = results_objects(docs, "Deployment")
    assert deploy["metadata"]["name"] == "llmload-results"
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["llmload-results"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LLMLOAD_SQLITE_PATH"] == "/var/lib/llmload/llmload.db"
    assert {"name": "history", "persistentVolumeClaim": {"claimName": "llmload-data"}} in pod["volumes"]
    # The claim is ReadWriteOnce: the pod must run where the operator mounts it.
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (service,) = results_objects(docs, "Service")
    assert service["metadata"]["name"] == "llmload-results"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    # The operator's own Service does not select the results pods, nor the other way round.
    operator_service = next(s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "llmload-metrics")
    assert operator_service["spec"]["selector"]["app.kubernetes.io/component"] == "operator"


def test_results_pod_is_restricted(helm_bin: str) -> None:
    (deploy,) = results_objects(render(helm_bin), "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["requests"].keys() >= {"cpu", "memory"}
    assert container["resources"]["limits"].keys() >= {"cpu", "memory"}
    assert pod["serviceAccountName"] == "llmload-results"


def test_results_rights_are_the_two_reviews_only(helm_bin: str) -> None:
    docs = render(helm_bin)
    (role,) = results_objects(docs, "ClusterRole")
    assert rule_table(role["rules"]) == {
        ("authentication.k8s.io", "tokenreviews"): {"create"},
        ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
    }
    assert role["metadata"]["name"] == "llmload-results-ops"
    (binding,) = results_objects(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "llmload-results", "namespace": "ops"}]
    assert [sa["metadata"]["name"] for sa in results_objects(docs, "ServiceAccount")] == ["llmload-results"]
    assert not results_objects(docs, "Role")


def test_results_scales_on_postgresql(helm_bin: str) -> None:
    docs = render(helm_bin, "database.existingSecret=db", "results.replicas=3")
    (deploy,) = results_objects(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["strategy"] == {"type": "RollingUpdate"}
    pod = deploy["spec"]["template"]["spec"]
    assert "affinity" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "DATABASE_URL"}}
    assert "LLMLOAD_SQLITE_PATH" not in env


def test_several_results_pods_on_sqlite_are_refused(helm_bin: str) -> None:
    proc = subprocess.run(
        [helm_bin, "template", "llmload", str(CHART), "--set", "results.replicas=2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "results.replicas > 1 needs PostgreSQL" in proc.stderr


@pytest.mark.parametrize(
    "settings", [("results.enabled=false",), ("persistence.enabled=false",)], ids=["disabled", "ephemeral"]
)
def test_no_results_service_when_off_or_without_a_shared_history(
    helm_bin: str, settings: tuple[str, ...]
) -> None:
    docs = render(helm_bin, *settings)
    for kind in ("Deployment", "Service", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"):
        assert not results_objects(docs, kind), kind
