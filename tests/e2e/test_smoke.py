"""Smoke tests of the node itself: the project image runs, Services route, RBAC holds, CRDs validate,
owner references collect garbage. Everything here is the real thing: scheduler, kubelet, containerd,
kube-proxy, the API server's admission and the controller-manager's garbage collector."""

from __future__ import annotations

import json
import textwrap

from tests.e2e.harness import ROOT, Cluster, wait_until
from tests.e2e.manifests import job, mock_vllm_deployment, service


def wait_job_done(cluster: Cluster, namespace: str, name: str, timeout: float = 90) -> dict[str, object]:
    def finished() -> bool:
        status = cluster.get_json("job", name, "-n", namespace).get("status", {})
        return bool(status.get("succeeded") or status.get("failed"))

    wait_until(finished, timeout, f"job {namespace}/{name} to finish")
    status: dict[str, object] = cluster.get_json("job", name, "-n", namespace)["status"]
    return status


def job_logs(cluster: Cluster, namespace: str, name: str) -> str:
    return cluster.kubectl("logs", "-n", namespace, f"job/{name}").stdout


def test_job_runs_project_cli_from_project_image(cluster: Cluster, namespace: str) -> None:
    cluster.apply(job("cli", cluster.image, ["loadgen", "run", "--help"]), namespace)

    status = wait_job_done(cluster, namespace, "cli")

    assert status.get("succeeded") == 1, status
    logs = job_logs(cluster, namespace, "cli")
    assert "--config" in logs
    assert "usage: loadgen run" in logs


def test_the_project_image_has_no_test_servers(cluster: Cluster, namespace: str) -> None:
    """mockservers is only in the mock image (the Dockerfile's `mockservers` stage)."""
    probe = "import importlib.util, shutil; print('MOCKSERVERS', importlib.util.find_spec('mockservers'), " \
            "shutil.which('llmload-mock'))"  # fmt: skip
    cluster.apply(job("no-mocks", cluster.image, ["python3", "-c", probe]), namespace)

    status = wait_job_done(cluster, namespace, "no-mocks")

    assert status.get("succeeded") == 1, job_logs(cluster, namespace, "no-mocks")
    assert "MOCKSERVERS None None" in job_logs(cluster, namespace, "no-mocks")


def test_pod_reaches_another_pod_through_a_service(cluster: Cluster, namespace: str) -> None:
    cluster.apply(mock_vllm_deployment("mock", cluster.mock_image), namespace)
    cluster.apply(service("mock", {"app.kubernetes.io/instance": "mock"}), namespace)
    cluster.kubectl("rollout", "status", "deployment/mock", "-n", namespace, "--timeout=90s", timeout=100)
    # No cluster DNS on the local node: the client uses the Service environment variables
    # the kubelet injects (MOCK_SERVICE_HOST/PORT), which work on every cluster.
    probe = textwrap.dedent(
        """
        import json, os, time, urllib.request
        url = f"http://{os.environ['MOCK_SERVICE_HOST']}:{os.environ['MOCK_SERVICE_PORT']}/v1/models"
        # kube-proxy programs a new endpoint a moment after the pod turns Ready; until then
        # the Service rejects connections, which a client is expected to retry.
        for attempt in range(40):
            try:
                body = json.load(urllib.request.urlopen(url, timeout=10))
                break
            except OSError as e:
                print("retrying:", e)
                time.sleep(0.5)
        print("MODELS", json.dumps([m["id"] for m in body["data"]]))
        """
    )
    cluster.apply(job("client", cluster.image, ["python3", "-c", probe]), namespace)

    status = wait_job_done(cluster, namespace, "client")

    assert status.get("succeeded") == 1, job_logs(cluster, namespace, "client")
    line = next(x for x in job_logs(cluster, namespace, "client").splitlines() if x.startswith("MODELS"))
    assert len(json.loads(line.removeprefix("MODELS "))) >= 1


RBAC_PROBE = textwrap.dedent(
    """
    import os, ssl, urllib.error, urllib.request
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    token = open(f"{sa}/token").read()
    ns = open(f"{sa}/namespace").read()
    ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
    base = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
    for kind in ("configmaps", "secrets"):
        req = urllib.request.Request(f"{base}/api/v1/namespaces/{ns}/{kind}", headers={"Authorization": f"Bearer {token}"})
        try:
            code = urllib.request.urlopen(req, context=ctx, timeout=10).status
        except urllib.error.HTTPError as e:
            code = e.code
        print(f"RBAC {kind} {code}")
    """
)


def test_service_account_token_is_allowed_one_request_and_denied_another(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    cluster.kubectl(
        "create", "role", "configmap-reader", "--verb=list", "--resource=configmaps", "-n", namespace
    )
    cluster.kubectl(
        "create", "rolebinding", "reader", "--role=configmap-reader", f"--serviceaccount={namespace}:reader",
        "-n", namespace,
    )  # fmt: skip
    cluster.apply(
        job("rbac", cluster.image, ["python3", "-c", RBAC_PROBE], service_account="reader"), namespace
    )

    wait_job_done(cluster, namespace, "rbac")

    logs = job_logs(cluster, namespace, "rbac")
    assert "RBAC configmaps 200" in logs, logs
    assert "RBAC secrets 403" in logs, logs


def test_api_server_rejects_an_invalid_loadtest_with_a_readable_message(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", str(ROOT / "crds" / "loadtest.yaml"))
    wait_until(
        lambda: cluster.kubectl("get", "loadtests", "-n", namespace, check=False).returncode == 0,
        timeout=30,
        what="the LoadTest CRD to be served",
    )
    invalid = {
        "apiVersion": "llmload.io/v1alpha1",
        "kind": "LoadTest",
        "metadata": {"name": "bad"},
        "spec": {
            "target": {"url": "http://198.19.0.99:8000"},
            "workload": {"inputTokens": {"mean": 16}, "outputTokens": {"mean": 16}},
            "load": {"mode": "Sideways", "levels": [1]},
        },
    }

    # --validate=false: the API server's own schema check, not kubectl's client-side one.
    proc = cluster.kubectl(
        "apply", "--validate=false", "-n", namespace, "-f", "-", input=json.dumps(invalid), check=False
    )

    assert proc.returncode != 0
    assert "spec.load.mode" in proc.stderr
    assert "Unsupported value" in proc.stderr, proc.stderr
    assert "Concurrency" in proc.stderr, proc.stderr


def test_deleting_an_owner_deletes_its_job(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = cluster.get_json("configmap", "owner", "-n", namespace)["metadata"]["uid"]
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
    cluster.apply(job("owned", cluster.image, ["sleep", "60"], owner=owner_ref), namespace)
    assert cluster.kubectl("get", "job", "owned", "-n", namespace, check=False).returncode == 0

    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)

    wait_until(
        lambda: cluster.kubectl("get", "job", "owned", "-n", namespace, check=False).returncode != 0,
        timeout=60,
        what="the garbage collector to delete the owned Job",
    )
