"""Multi-tenant safety on the real node (docs/security.md): a user who holds only the chart's edit role in a
namespace (a ServiceAccount token, through kubectl) cannot make the operator use a Secret, a Deployment or
an image the cluster does not let them use. The API server refuses, with the webhook's message naming the
missing right.

The operator runs as a local process serving its webhook on 127.0.0.1 with a self-signed certificate; a
ValidatingWebhookConfiguration scoped by a label to this test's namespace sends the API server's reviews
there. It, and the chart's user ClusterRoles rendered here, are deleted in a `finally`: other tests share
the node.
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest_operator.handlers.admission import CAPACITY_WEBHOOK, LOADTEST_WEBHOOK
from tests.e2e.harness import ROOT, Cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_loadtest import condition, get_lt, loadtest, mock_vllm, wait_finished

__all__ = ["mock_vllm"]  # a fixture, imported for its use below

PLANTED = "planted-secret-value-4f1d9a"  # the readable Secret's value: it must appear nowhere
SCOPE_LABEL = "llmload-e2e-webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "webhook.crt", directory / "webhook.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def webhook_configuration(name: str, namespace: str, port: int, ca: bytes) -> dict[str, Any]:
    def hook(path: str, plural: str) -> dict[str, Any]:
        return {
            "name": f"{path}.llmload.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "namespaceSelector": {"matchLabels": {SCOPE_LABEL: namespace}},
            "rules": [
                {
                    "apiGroups": ["llmload.io"],
                    "apiVersions": ["v1alpha1"],
                    "resources": [plural],
                    "operations": ["CREATE", "UPDATE"],
                    "scope": "Namespaced",
                }
            ],
            "clientConfig": {
                "url": f"https://127.0.0.1:{port}/{path}",
                "caBundle": base64.b64encode(ca).decode(),
            },
        }

    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook(LOADTEST_WEBHOOK, "loadtests"), hook(CAPACITY_WEBHOOK, "capacityrecommendations")],
    }


def user_roles(cluster: Cluster, release: str) -> list[dict[str, Any]]:
    """The chart's view/edit ClusterRoles, under a release name of this test's own (no clash)."""
    out = subprocess.run(
        [cluster.helm_bin, "template", release, str(ROOT / "helm" / "llmload"), "--show-only",
         "templates/user-roles.yaml"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


@dataclass
class User:
    name: str
    kubeconfig: Path
    cluster: Cluster

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.cluster.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def create(self, manifest: dict[str, Any], namespace: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def service_account_user(cluster: Cluster, namespace: str, name: str, directory: Path) -> User:
    cluster.kubectl("create", "serviceaccount", name, "-n", namespace)

    def token_secret() -> str:
        sa = cluster.get_json("serviceaccount", name, "-n", namespace)
        return str(((sa.get("secrets") or [{}])[0]).get("name") or "")

    wait_until(lambda: bool(token_secret()), timeout=30, what=f"the token of ServiceAccount {name}")
    token = base64.b64decode(
        cluster.get_json("secret", token_secret(), "-n", namespace)["data"]["token"]
    ).decode()
    admin = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    server = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "local", "user": name, "namespace": namespace}}],
        "current-context": name,
    }
    path = directory / f"{name}.kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return User(f"system:serviceaccount:{namespace}:{name}", path, cluster)


@dataclass
class Setup:
    namespace: str
    alice: User
    operator: OperatorProcess
    db: Path
    webhook: dict[str, Any]  # the ValidatingWebhookConfiguration the operator runs with

    def webhook_answers(self, cluster: Cluster) -> None:
        """Wait until the webhook answers (it refuses a dry run with a foreign image)."""
        probe = json.dumps(loadtest("probe", loadGenerator={"image": "localhost/llmload/probe:1"}))

        def refuses() -> bool:
            dry = cluster.kubectl(
                "create", "--dry-run=server", "-n", self.namespace, "-f", "-", input=probe, check=False
            )
            return dry.returncode != 0 and "allow-list" in dry.stderr

        wait_until(refuses, timeout=60, what="the operator's webhook to answer")


@pytest.fixture
def setup(cluster: Cluster, namespace: str, tmp_path: Path, mock_vllm: str) -> Iterator[Setup]:
    port = free_port()
    cert, key = self_signed(tmp_path)
    release = f"e2e-sec-{namespace.rsplit('-', 1)[-1]}"  # the namespace's random suffix: a valid, unique name
    roles = user_roles(cluster, release)
    webhook = webhook_configuration(f"llmload-e2e-{namespace}", namespace, port, cert.read_bytes())
    operator = OperatorProcess(
        cluster,
        namespace,
        tmp_path,
        admission_webhook="true",
        read_secrets="false",
        webhook_port=str(port),
        webhook_address="127.0.0.1",
        webhook_cert_file=str(cert),
        webhook_key_file=str(key),
        webhook_configuration=webhook["metadata"]["name"],
    )
    try:
        for role in roles:
            cluster.apply(role)
        cluster.kubectl("label", "namespace", namespace, f"{SCOPE_LABEL}={namespace}")
        alice = service_account_user(cluster, namespace, "alice", tmp_path)
        edit = next(r["metadata"]["name"] for r in roles if r["metadata"]["name"].endswith("-edit"))
        sa = f"{namespace}:alice"
        cluster.kubectl(
            "create",
            "rolebinding",
            "alice-llmload",
            "-n",
            namespace,
            f"--clusterrole={edit}",
            f"--serviceaccount={sa}",
        )
        # Alice may read one Secret, by name; the other exists, and she may not.
        for secret in ("readable", "hidden"):
            cluster.kubectl(
                "create", "secret", "generic", secret, "-n", namespace, f"--from-literal=token={PLANTED}"
            )
        cluster.kubectl(
            "create",
            "role",
            "read-readable",
            "-n",
            namespace,
            "--verb=get",
            "--resource=secrets",
            "--resource-name=readable",
        )
        cluster.kubectl(
            "create",
            "rolebinding",
            "read-readable",
            "-n",
            namespace,
            "--role=read-readable",
            f"--serviceaccount={sa}",
        )
        operator.start()
        cluster.apply(webhook)
        setup = Setup(namespace, alice, operator, operator.sqlite_path, webhook)
        setup.webhook_answers(cluster)  # before the test starts
        yield setup
    finally:
        cluster.kubectl(
            "delete",
            "validatingwebhookconfiguration",
            webhook["metadata"]["name"],
            "--ignore-not-found",
            check=False,
        )
        for role in roles:
            cluster.kubectl(
                "delete", "clusterrole", role["metadata"]["name"], "--ignore-not-found", check=False
            )
        operator.stop()
        print(f"\n==== operator log ====\n{operator.log_tail()}")


def keyed(name: str, secret: str, **overrides: Any) -> dict[str, Any]:
    target = {"serviceRef": {"name": "mock-vllm", "port": 8000}, "api": "Chat", "model": "e2e-model",
              "apiKeySecretRef": {"name": secret, "key": "token"}}  # fmt: skip
    return loadtest(name, target=target, **overrides)


def capacity(name: str, deployment: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"serviceRef": {"name": "mock-vllm", "port": 8000}, "model": "e2e-model",
                   "deploymentRef": {"name": deployment}},
        "workload": {"peakConcurrency": 4, "inputTokens": {"mean": 32}, "outputTokens": {"mean": 16}},
        "slo": {"ttftMilliseconds": 1000},
        "requestsPerLevel": 20,
        "search": {"mode": "Levels", "levels": [2]},
        **overrides,
    }  # fmt: skip
    return {
        "apiVersion": "llmload.io/v1alpha1",
        "kind": "CapacityRecommendation",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_a_user_gets_no_right_through_the_operator_that_the_cluster_does_not_give(
    cluster: Cluster, setup: Setup
) -> None:
    ns, alice = setup.namespace, setup.alice

    # A Secret Alice may not read: the API server refuses, naming the right and how to get it.
    refused = alice.create(keyed("hidden-key", "hidden"), ns)
    assert refused.returncode != 0
    assert "denied the request" in refused.stderr
    assert f"user '{alice.name}' may not get secrets 'hidden' in namespace '{ns}'" in refused.stderr
    assert "kubectl create role llmload-get-secrets-hidden" in refused.stderr
    assert cluster.kubectl("get", "loadtest", "hidden-key", "-n", ns, check=False).returncode != 0

    # An image outside the allow-list (the operator's own image only, by default).
    image = alice.create(loadtest("miner", loadGenerator={"image": "localhost/llmload/miner:1"}), ns)
    assert image.returncode != 0
    assert "'localhost/llmload/miner:1' is not in the operator's image allow-list" in image.stderr

    # Scaling a Deployment Alice may not patch.
    scale = alice.create(capacity("scaler", "mock-vllm", scaleDeployment=True, maxReplicas=2), ns)
    assert scale.returncode != 0
    assert (
        "may neither patch deployments 'mock-vllm' nor update deployments/scale 'mock-vllm'" in scale.stderr
    )

    # Changing an accepted object to name the hidden Secret is refused as well (UPDATE is reviewed).
    assert alice.create(loadtest("plain", load={"levels": [2], "requestsPerLevel": 4}), ns).returncode == 0
    patch = json.dumps({"spec": {"target": {"apiKeySecretRef": {"name": "hidden", "key": "token"}}}})
    edited = alice.kubectl("patch", "loadtest", "plain", "-n", ns, "--type=merge", "-p", patch)
    assert edited.returncode != 0
    assert "may not get secrets 'hidden'" in edited.stderr

    # Credentials in a URL: accepted by the API server, refused by the operator with the reason.
    creds = loadtest("creds", loadGenerator={"placement": "Anywhere"})
    creds["spec"]["target"] = {"url": "http://user:pw@mock-vllm:8000", "model": "e2e-model"}
    assert alice.create(creds, ns).returncode == 0
    wait_until(lambda: condition(get_lt(cluster, ns, "creds"), "Accepted") is not None, 60, "creds refused")
    accepted = condition(get_lt(cluster, ns, "creds"), "Accepted")
    assert accepted is not None
    assert (accepted["status"], accepted["reason"]) == ("False", "CredentialsInUrl")


def test_a_deployment_the_target_does_not_route_to_is_refused(cluster: Cluster, setup: Setup) -> None:
    ns = setup.namespace
    other = mock_vllm_deployment("other", cluster.mock_image)
    other["spec"]["replicas"] = 0
    cluster.apply(other, ns)
    # As an admin (who may scale anything): the routing rule holds whoever asks.
    cluster.apply(capacity("wrong", "other", scaleDeployment=True, maxReplicas=3), ns)

    def ready() -> dict[str, Any] | None:
        obj = cluster.get_json("capacityrecommendation", "wrong", "-n", ns)
        return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)

    wait_until(lambda: ready() is not None, 60, "the Ready condition")
    cond = ready()
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("False", "DeploymentNotBehindTarget")
    assert "does not back Service 'mock-vllm'" in cond["message"]
    assert cluster.get_json("deployment", "other", "-n", ns)["spec"]["replicas"] == 0
    assert cluster.get_json("loadtests", "-n", ns)["items"] == []  # nothing measured


def test_a_readable_secret_works_and_its_value_appears_nowhere(cluster: Cluster, setup: Setup) -> None:
    ns, alice = setup.namespace, setup.alice

    created = alice.create(keyed("with-key", "readable", load={"levels": [2], "requestsPerLevel": 10}), ns)
    assert created.returncode == 0, created.stderr
    lt = wait_finished(cluster, ns, "with-key")
    succeeded = condition(lt, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", succeeded
    # The key reached the shard by secretKeyRef (the mock accepts any key); the Job names, never holds, it.
    jobs = cluster.get_json("jobs", "-n", ns, "-l", "llmload.io/loadtest=with-key")["items"]
    env = jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "LLMLOAD_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "readable", "key": "token"}},
    } in env

    places = {
        "status": json.dumps(get_lt(cluster, ns, "with-key")),
        "events": cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout,
        "configmaps": cluster.kubectl("get", "configmaps", "-n", ns, "-o", "json").stdout,
        "jobs and pods": cluster.kubectl("get", "jobs,pods", "-n", ns, "-o", "json").stdout,
        "operator log": setup.operator.log_path.read_text(errors="replace"),
        "store": "\n".join(sqlite3.connect(setup.db).iterdump()),
    }
    for place, text in places.items():
        assert text, place
        assert PLANTED not in text, f"the Secret's value is in the {place}"
        assert base64.b64encode(PLANTED.encode()).decode() not in text, (
            f"the Secret's value is in the {place}"
        )


def test_a_scale_the_author_may_make_is_capped_at_max_replicas(cluster: Cluster, setup: Setup) -> None:
    ns = setup.namespace
    # As an admin, who may scale it: the recommendation (3 replicas for a peak of 4 at a knee of 2) is
    # above maxReplicas, so the Deployment is set to 2 through its scale subresource, and status says so.
    cluster.apply(capacity("sized", "mock-vllm", scaleDeployment=True, maxReplicas=2), ns)

    def scaled() -> dict[str, Any] | None:
        obj = cluster.get_json("capacityrecommendation", "sized", "-n", ns)
        return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Scaled"), None)

    wait_until(lambda: scaled() is not None, 150, "the Scaled condition")
    cond = scaled()
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("True", "ScaleCapped"), cond
    assert "above spec.maxReplicas" in cond["message"]
    assert cluster.get_json("deployment", "mock-vllm", "-n", ns)["spec"]["replicas"] == 2


def test_an_object_the_webhook_never_reviewed_is_held_to_the_opt_in_rule(
    cluster: Cluster, setup: Setup
) -> None:
    ns, alice, name = setup.namespace, setup.alice, setup.webhook["metadata"]["name"]

    def accepted() -> dict[str, Any] | None:
        return condition(get_lt(cluster, ns, "unreviewed"), "Accepted")

    # While the configuration is gone (deleted to get through an outage, say), the API server asks nobody:
    # Alice can name the Secret she may not read. The operator does not trust what nobody reviewed.
    cluster.kubectl("delete", "validatingwebhookconfiguration", name)
    created = alice.create(keyed("unreviewed", "hidden", load={"levels": [2], "requestsPerLevel": 4}), ns)
    assert created.returncode == 0, created.stderr
    wait_until(lambda: accepted() is not None, 60, "the unreviewed LoadTest refused")
    first = accepted()
    assert first is not None
    assert (first["status"], first["reason"]) == ("False", "NotOptedIn"), first
    assert f"the ValidatingWebhookConfiguration '{name}' does not exist" in first["message"]
    assert "delete this object and create it again" in first["message"]

    # The configuration is back (a new object: a later creationTimestamp). An admin, who may read the
    # Secret, starts a new run of the same LoadTest: the webhook allows that update, but the object itself
    # was created before the configuration, by someone nobody reviewed, so it stays refused.
    cluster.apply(setup.webhook)
    setup.webhook_answers(cluster)
    cluster.kubectl("patch", "loadtest", "unreviewed", "-n", ns, "--type=merge", "-p", '{"spec":{"runId":2}}')

    def second_run() -> dict[str, Any] | None:
        cond = accepted()
        return cond if cond is not None and "before the admission webhook" in cond["message"] else None

    wait_until(lambda: second_run() is not None, 60, "the second run refused")
    again = second_run()
    assert again is not None
    assert (again["status"], again["reason"]) == ("False", "NotOptedIn")
    assert f"before the admission webhook '{name}'" in again["message"]
    assert cluster.get_json("jobs", "-n", ns, "-l", "llmload.io/loadtest=unreviewed")["items"] == []
