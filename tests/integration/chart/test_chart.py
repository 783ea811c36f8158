"""The Helm chart rendered by the real helm CLI: lint, RBAC scoping, CRDs, dashboards."""

from __future__ import annotations

import base64
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


def operator_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's Deployment (the results service has its own: test_results_chart.py)."""
    return [
        d
        for d in by_kind(docs, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]


def test_chart_lints(helm_bin: str) -> None:
    proc = subprocess.run([helm_bin, "lint", str(CHART)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def rule_table(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


# Every namespaced rule the operator holds, and why (docs/security.md, "What the operator may do").
NAMESPACED_RULES: dict[tuple[str, str], set[str]] = {
    ("llmload.io", "loadtests"): {"get", "list", "watch", "create", "patch", "update", "delete"},
    ("llmload.io", "capacityrecommendations"): {
        "get",
        "list",
        "watch",
        "create",
        "patch",
        "update",
        "delete",
    },
    ("llmload.io", "loadtests/status"): {"get", "patch", "update"},
    ("llmload.io", "capacityrecommendations/status"): {"get", "patch", "update"},
    ("llmload.io", "loadtests/finalizers"): {"update"},
    ("llmload.io", "capacityrecommendations/finalizers"): {"update"},
    ("batch", "jobs"): {"get", "list", "create", "delete"},
    ("", "configmaps"): {"get", "list", "create", "update", "patch"},
    ("", "serviceaccounts"): {"get", "create"},
    ("rbac.authorization.k8s.io", "roles"): {"get", "create"},
    ("rbac.authorization.k8s.io", "rolebindings"): {"get", "create"},
    ("", "services"): {"get"},
    ("", "pods"): {"list"},
    ("", "pods/log"): {"get"},
    ("apps", "deployments"): {"get"},
    ("apps", "deployments/scale"): {"patch"},
    ("", "events"): {"create", "patch", "list"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
CLUSTER_RULES: dict[tuple[str, str], set[str]] = {
    ("", "nodes"): {"get", "list", "watch"},
    ("", "namespaces"): {"get", "list", "watch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}
REVIEWS = {
    ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): {"get"},  # its own, by name
}
SECRETS = {("", "secrets"): {"get"}}


def operator_cluster_role(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (role,) = [r for r in by_kind(docs, "ClusterRole") if r["metadata"]["name"] == "llmload-ops"]
    return role


def test_cluster_wide_by_default_with_least_privilege_and_no_secrets(helm_bin: str) -> None:
    docs = render(helm_bin)

    assert rule_table(operator_cluster_role(docs)["rules"]) == {
        **CLUSTER_RULES,
        **REVIEWS,
        **NAMESPACED_RULES,
    }
    assert not by_kind(docs, "Role")
    (binding,) = [b for b in by_kind(docs, "ClusterRoleBinding") if b["roleRef"]["name"] == "llmload-ops"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "llmload", "namespace": "ops"}]
    assert env_of(docs)["LLMLOAD_READ_SECRETS"] == "false"


def test_secrets_are_read_only_when_asked_or_without_the_webhook(helm_bin: str) -> None:
    asked = rule_table(operator_cluster_role(render(helm_bin, "rbac.readSecrets=true"))["rules"])
    assert asked == {**CLUSTER_RULES, **REVIEWS, **NAMESPACED_RULES, **SECRETS}

    docs = render(helm_bin, "webhook.enabled=false")
    # Without the webhook: no reviews to ask, but Secrets are read for their opt-in label and type.
    assert rule_table(operator_cluster_role(docs)["rules"]) == {
        **CLUSTER_RULES,
        **NAMESPACED_RULES,
        **SECRETS,
    }
    assert env_of(docs)["LLMLOAD_READ_SECRETS"] == "true"
    assert env_of(docs)["LLMLOAD_ADMISSION_WEBHOOK"] == "false"
    assert not by_kind(docs, "ValidatingWebhookConfiguration")


def test_watch_namespaces_gives_one_role_per_namespace_and_no_cluster_wide_writes(helm_bin: str) -> None:
    docs = render(helm_bin, "watchNamespaces={team-a,team-b}")

    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "Role")) == ["team-a", "team-b"]
    for role in by_kind(docs, "Role"):
        assert rule_table(role["rules"]) == NAMESPACED_RULES
    assert rule_table(operator_cluster_role(docs)["rules"]) == {**CLUSTER_RULES, **REVIEWS}
    bindings = by_kind(docs, "RoleBinding")
    assert {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in bindings} == {
        ("team-a", "llmload"), ("team-b", "llmload")
    }  # fmt: skip
    env = operator_deployments(docs)[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "LLMLOAD_NAMESPACES", "value": "team-a,team-b"} in env
    # The webhook is asked only about the watched namespaces.
    (config,) = by_kind(docs, "ValidatingWebhookConfiguration")
    for hook in config["webhooks"]:
        assert hook["namespaceSelector"]["matchExpressions"] == [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}
        ]


def test_user_roles_aggregate_into_view_and_edit(helm_bin: str) -> None:
    roles = {r["metadata"]["name"]: r for r in by_kind(render(helm_bin), "ClusterRole")}

    view, edit = roles["llmload-view"], roles["llmload-edit"]
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in view["metadata"]["labels"].items() if k.startswith(aggregate) and v == "true"} == {
        f"{aggregate}view", f"{aggregate}edit", f"{aggregate}admin"
    }  # fmt: skip
    assert {k for k, v in edit["metadata"]["labels"].items() if k.startswith(aggregate) and v == "true"} == {
        f"{aggregate}edit", f"{aggregate}admin"
    }  # fmt: skip
    assert rule_table(view["rules"]) == {
        ("llmload.io", r): {"get", "list", "watch"}
        for r in (
            "loadtests",
            "capacityrecommendations",
            "loadtests/status",
            "capacityrecommendations/status",
        )
    }
    writes = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    assert rule_table(edit["rules"]) == {
        ("llmload.io", "loadtests"): writes,
        ("llmload.io", "capacityrecommendations"): writes,
        ("llmload.io", "loadtests/status"): {"get", "list", "watch"},
        ("llmload.io", "capacityrecommendations/status"): {"get", "list", "watch"},
    }
    assert "llmload-view" not in {
        r["metadata"]["name"] for r in by_kind(render(helm_bin, "rbac.userRoles=false"), "ClusterRole")
    }


def test_the_webhook_configuration_reaches_the_operator_over_the_charts_tls(
    helm_bin: str, tmp_path: Path
) -> None:
    docs = render(helm_bin)

    (config,) = by_kind(docs, "ValidatingWebhookConfiguration")
    assert config["metadata"]["name"].startswith("llmload-ops-")
    (tls,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == "llmload-webhook-tls"]
    hooks = {h["name"]: h for h in config["webhooks"]}
    assert set(hooks) == {"validate-loadtest.llmload.io", "validate-capacityrecommendation.llmload.io"}
    for name, plural in (
        ("validate-loadtest", "loadtests"),
        ("validate-capacityrecommendation", "capacityrecommendations"),
    ):
        hook = hooks[f"{name}.llmload.io"]
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None"
        assert hook["rules"] == [
            {
                "apiGroups": ["llmload.io"],
                "apiVersions": ["v1alpha1"],
                "resources": [plural],
                "operations": ["CREATE", "UPDATE"],
                "scope": "Namespaced",
            }
        ]
        assert hook["clientConfig"]["service"] == {
            "name": "llmload-webhook",
            "namespace": "ops",
            "path": f"/{name}",
            "port": 443,
        }
        assert hook["clientConfig"]["caBundle"] == tls["data"]["ca.crt"]
    (service,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "llmload-webhook"]
    assert service["spec"]["ports"] == [
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    ]
    container = pod_spec(docs)["containers"][0]
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "webhook"}
    assert {"name": "webhook-tls", "mountPath": "/etc/llmload/webhook", "readOnly": True} in container[
        "volumeMounts"
    ]
    env = env_of(docs)
    assert env["LLMLOAD_WEBHOOK_PORT"] == "9443"
    assert env["LLMLOAD_TRUSTED_USERS"] == "system:serviceaccount:ops:llmload"
    # The certificate is for the Service's name and signed by the CA the API server is given.
    for key in ("ca.crt", "tls.crt"):
        (tmp_path / key).write_bytes(base64.b64decode(tls["data"][key]))
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "tls.crt")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    names = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "tls.crt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:llmload-webhook.ops.svc" in names


def test_the_webhook_on_cert_manager(helm_bin: str) -> None:
    docs = render(helm_bin, "webhook.certificates=cert-manager")

    (config,) = by_kind(docs, "ValidatingWebhookConfiguration")
    assert config["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "ops/llmload-webhook"}
    assert all("caBundle" not in h["clientConfig"] for h in config["webhooks"])
    (certificate,) = by_kind(docs, "Certificate")
    assert certificate["spec"]["secretName"] == "llmload-webhook-tls"
    assert "llmload-webhook.ops.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"] == {"name": "llmload-webhook-selfsigned", "kind": "Issuer"}
    assert by_kind(docs, "Issuer")
    assert not [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == "llmload-webhook-tls"]
    issued = render(
        helm_bin,
        "webhook.certificates=cert-manager",
        "webhook.certManager.issuerRef.name=corp",
        "webhook.certManager.issuerRef.kind=ClusterIssuer",
    )
    assert by_kind(issued, "Certificate")[0]["spec"]["issuerRef"] == {"name": "corp", "kind": "ClusterIssuer"}
    assert not by_kind(issued, "Issuer")


def test_image_allow_list_fetch_policy_and_prometheus_token(helm_bin: str) -> None:
    default = env_of(render(helm_bin))
    assert default["LLMLOAD_ALLOWED_IMAGES"] == "localhost/llmload/llmload:dev"  # the operator's own
    assert default["LLMLOAD_REFUSED_FETCH_RANGES"] == "169.254.0.0/16,fe80::/10"
    assert default["LLMLOAD_ALLOWED_PROMETHEUS_URLS"] == ""
    assert default["LLMLOAD_PROMETHEUS_MAX_BYTES"] == "16777216"
    assert "LLMLOAD_PROMETHEUS_BEARER_TOKEN" not in default

    env = env_of(
        render(
            helm_bin,
            "loadGenerator.allowedImages={registry.corp/llmload/*,localhost/llmload/llmload:dev}",
            "prometheus.allowedUrls={http://prom.team:9090}",
            "prometheus.bearerTokenSecret.name=prom-token",
            "prometheus.maxAnswerBytes=67108864",
        )
    )
    assert env["LLMLOAD_PROMETHEUS_MAX_BYTES"] == "67108864"
    assert env["LLMLOAD_ALLOWED_IMAGES"] == "registry.corp/llmload/*,localhost/llmload/llmload:dev"
    assert env["LLMLOAD_ALLOWED_PROMETHEUS_URLS"] == "http://prom.team:9090"
    assert env["LLMLOAD_PROMETHEUS_BEARER_TOKEN"] == {"secretKeyRef": {"name": "prom-token", "key": "token"}}


def test_every_pod_has_requests_and_limits(helm_bin: str) -> None:
    for deploy in by_kind(render(helm_bin), "Deployment"):
        for container in deploy["spec"]["template"]["spec"]["containers"]:
            assert container["resources"]["requests"].keys() >= {"cpu", "memory"}
            assert container["resources"]["limits"].keys() >= {"cpu", "memory"}


def test_operator_container_is_non_root_with_a_read_only_root(helm_bin: str) -> None:
    (deploy,) = operator_deployments(render(helm_bin))
    pod = deploy["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert pod["serviceAccountName"] == "llmload"


def test_database_secret_and_dashboards(helm_bin: str) -> None:
    docs = render(helm_bin, "database.existingSecret=llmload-db")

    env = operator_deployments(docs)[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    db = next(e for e in env if e["name"] == "DATABASE_URL")
    assert db["valueFrom"]["secretKeyRef"] == {"name": "llmload-db", "key": "DATABASE_URL"}
    dashboards = next(c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboards"))
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "loadtests.json" in dashboards["data"]
    # Every board of helm/llmload/dashboards ships, byte for byte (tests/unit/helm checks them).
    for path in sorted((CHART / "dashboards").glob("*.json")):
        assert dashboards["data"][path.name] == path.read_text(), path.name
    assert {"live.json", "history.json"} <= set(dashboards["data"])


# -- the run history -------------------------------------------------------------------------------------


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deploy,) = operator_deployments(docs)
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
    (deploy,) = operator_deployments(docs)
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


def test_service_monitor_keeps_the_loadtests_namespace_label(helm_bin: str) -> None:
    """The operator's series carry the LoadTest's `namespace`; the boards' namespace variable reads it."""
    docs = render(helm_bin, "metrics.serviceMonitor.enabled=true")
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


def webhook_configuration_name(docs: list[dict[str, Any]]) -> str:
    (config,) = by_kind(docs, "ValidatingWebhookConfiguration")
    name = str(config["metadata"]["name"])
    # The operator is told which configuration reviews its objects, and may read that one only.
    assert env_of(docs)["LLMLOAD_WEBHOOK_CONFIGURATION"] == name
    (rule,) = [
        r for r in operator_cluster_role(docs)["rules"] if "validatingwebhookconfigurations" in r["resources"]
    ]
    assert rule == {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingwebhookconfigurations"],
        "resourceNames": [name],
        "verbs": ["get"],
    }
    return name


def test_the_webhook_configuration_is_renamed_when_what_it_covers_changes(helm_bin: str) -> None:
    # A new name is a new object, whose creationTimestamp tells the operator since when its objects are
    # reviewed (docs/security.md): objects from before a change in coverage were not.
    default = webhook_configuration_name(render(helm_bin))
    assert webhook_configuration_name(render(helm_bin)) == default  # stable across renders and upgrades
    namespaced = webhook_configuration_name(render(helm_bin, "watchNamespaces={team-a}"))
    widened = webhook_configuration_name(render(helm_bin, "watchNamespaces={team-a,team-b}"))
    ignoring = webhook_configuration_name(render(helm_bin, "webhook.failurePolicy=Ignore"))
    assert len({default, namespaced, widened, ignoring}) == 4
    assert all(n.startswith("llmload-ops-") for n in (default, namespaced, widened, ignoring))
    off = render(helm_bin, "webhook.enabled=false")
    assert "LLMLOAD_WEBHOOK_CONFIGURATION" not in env_of(off)
    assert rule_table(operator_cluster_role(off)["rules"]).keys().isdisjoint(REVIEWS)
