"""The Helm chart rendered by the real helm CLI: lint, RBAC scoping, CRDs, dashboards."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import ROOT, hack_vars

CHART = ROOT / "helm" / "llmload"


@pytest.fixture(scope="module")
def helm_bin() -> str:
    path = hack_vars("HELM_BIN")["HELM_BIN"]
    if not Path(path).exists():
        subprocess.run(["bash", str(ROOT / "hack" / "get-helm.sh")], check=True)
    return path


def render(helm_bin: str, *sets: str) -> list[dict[str, Any]]:
    args = [helm_bin, "template", "llmload", str(CHART), "--namespace", "ops"]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_chart_lints(helm_bin: str) -> None:
    proc = subprocess.run([helm_bin, "lint", str(CHART)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cluster_wide_by_default_with_least_privilege(helm_bin: str) -> None:
    docs = render(helm_bin)

    (role,) = by_kind(docs, "ClusterRole")
    rules = {
        (g, r): set(rule["verbs"])
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert rules[("", "secrets")] == {"get"}
    assert rules[("batch", "jobs")] == {"get", "list", "watch", "create", "delete"}
    assert ("", "pods/exec") not in rules
    assert not by_kind(docs, "Role")


def test_watch_namespaces_gives_one_role_per_namespace_and_no_cluster_wide_writes(helm_bin: str) -> None:
    docs = render(helm_bin, "watchNamespaces={team-a,team-b}", "rbac.readSecrets=false")

    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "Role")) == ["team-a", "team-b"]
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "nodes", "namespaces", "customresourcedefinitions"
    }  # fmt: skip
    role_resources = {r for rule in by_kind(docs, "Role")[0]["rules"] for r in rule["resources"]}
    assert "secrets" not in role_resources
    env = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "LLMLOAD_NAMESPACES", "value": "team-a,team-b"} in env


def test_operator_container_is_non_root_with_a_read_only_root(helm_bin: str) -> None:
    (deploy,) = by_kind(render(helm_bin), "Deployment")
    pod = deploy["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == "llmload"


def test_database_secret_and_dashboards(helm_bin: str) -> None:
    docs = render(helm_bin, "database.existingSecret=llmload-db")

    env = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    db = next(e for e in env if e["name"] == "DATABASE_URL")
    assert db["valueFrom"]["secretKeyRef"] == {"name": "llmload-db", "key": "DATABASE_URL"}
    dashboards = next(c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboards"))
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "loadtests.json" in dashboards["data"]


# -- the run history -------------------------------------------------------------------------------------


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deploy,) = by_kind(docs, "Deployment")
    spec: dict[str, Any] = deploy["spec"]["template"]["spec"]
    return spec


def env_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod_spec(docs)["containers"][0]["env"]}


def history_volume(docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((v for v in pod_spec(docs)["volumes"] if v["name"] == "history"), None)


def notes(helm_bin: str, *sets: str) -> str:
    args = [helm_bin, "install", "llmload", str(CHART), "--namespace", "ops", "--dry-run=client"]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return out.split("NOTES:", 1)[1]


def test_history_is_kept_on_a_claim_by_default(helm_bin: str) -> None:
    docs = render(helm_bin)

    (claim,) = by_kind(docs, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "llmload-data"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default StorageClass
    assert history_volume(docs) == {"name": "history", "persistentVolumeClaim": {"claimName": "llmload-data"}}
    mounts = pod_spec(docs)["containers"][0]["volumeMounts"]
    assert {"name": "history", "mountPath": "/var/lib/llmload"} in mounts
    assert env_of(docs)["LLMLOAD_SQLITE_PATH"] == "/var/lib/llmload/llmload.db"
    assert "LLMLOAD_HISTORY_EPHEMERAL" not in env_of(docs)
    # One writer at a time on a ReadWriteOnce volume: the old pod goes before the new one mounts it.
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert "survives operator restarts, upgrades and `helm uninstall`" in notes(helm_bin)


@pytest.mark.parametrize(("value", "expected"), [("fast-ssd", "fast-ssd"), ("-", "")])
def test_history_claim_storage_class_and_size(helm_bin: str, value: str, expected: str) -> None:
    docs = render(helm_bin, f"persistence.storageClass={value}", "persistence.size=20Gi")

    (claim,) = by_kind(docs, "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == expected
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_history_on_an_existing_claim_creates_none(helm_bin: str) -> None:
    docs = render(helm_bin, "persistence.existingClaim=team-history")

    assert not by_kind(docs, "PersistentVolumeClaim")
    assert history_volume(docs) == {"name": "history", "persistentVolumeClaim": {"claimName": "team-history"}}


def test_ephemeral_history_only_when_asked_and_said_so(helm_bin: str) -> None:
    docs = render(helm_bin, "persistence.enabled=false")

    assert not by_kind(docs, "PersistentVolumeClaim")
    assert history_volume(docs) == {"name": "history", "emptyDir": {}}
    assert env_of(docs)["LLMLOAD_HISTORY_EPHEMERAL"] == "true"
    text = notes(helm_bin, "persistence.enabled=false")
    assert "EPHEMERAL" in text
    assert "persistence.enabled=true" in text


@pytest.mark.parametrize(
    "setting", ["database.url=postgresql://llmload@db:5432/llmload", "database.existingSecret=db"]
)
def test_history_in_postgresql_needs_no_volume(helm_bin: str, setting: str) -> None:
    docs = render(helm_bin, setting)

    assert not by_kind(docs, "PersistentVolumeClaim")
    assert history_volume(docs) is None
    assert all(m["name"] != "history" for m in pod_spec(docs)["containers"][0]["volumeMounts"])
    env = env_of(docs)
    assert "DATABASE_URL" in env
    assert "LLMLOAD_SQLITE_PATH" not in env
    assert "LLMLOAD_HISTORY_EPHEMERAL" not in env
    assert "Run history: the SQL database" in notes(helm_bin, setting)


def test_the_old_persistence_key_is_refused_with_where_it_went(helm_bin: str) -> None:
    args = [helm_bin, "template", "llmload", str(CHART), "--set", "database.sqlite.persistence.enabled=true"]
    proc = subprocess.run(args, capture_output=True, text=True)

    assert proc.returncode != 0
    assert "has moved to persistence" in proc.stderr
