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
