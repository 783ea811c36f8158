"""The operator installed the way users install it: `helm install` of the chart, with the chart's own
ServiceAccount and RBAC and its default history volume (a PersistentVolumeClaim), runs a LoadTest to
success, and the run outlives both the LoadTest and the operator pod.

The local node has no dynamic provisioner: hack/history-volume.sh gives the chart's claim a hostPath
PersistentVolume (the SQLite file is then on this machine, where the test reads it). Against an existing
cluster (USE_EXISTING_CLUSTER=true) the claim is provisioned by its default StorageClass and the file is
not read from here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from loadtest_operator.io.store import create_store_engine, list_runs
from tests.e2e.harness import HACK, ROOT, Cluster, hack_vars, use_existing_cluster, wait_until
from tests.e2e.test_loadtest import condition, loadtest, mock_vllm, wait_finished

__all__ = ["mock_vllm"]  # a fixture, imported for its use below

CHART = ROOT / "helm" / "llmload"
CLAIM = "llmload-data"
OPERATOR = "app.kubernetes.io/component=operator"


def helm(cluster: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [cluster.helm_bin, "--kubeconfig", cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def history_volume(namespace: str) -> Path | None:
    """On the local node: a hostPath volume for the chart's claim; the directory of its SQLite file."""
    if use_existing_cluster():
        return None
    directory = Path(hack_vars("CLUSTER_DIR")["CLUSTER_DIR"]) / "e2e-history" / namespace
    subprocess.run(["bash", str(HACK / "history-volume.sh"), namespace, CLAIM, str(directory)], check=True)
    return directory


def stored_names(directory: Path | None) -> list[str] | None:
    """Names of the runs in the SQLite file on the volume (None: the volume is not on this machine)."""
    if directory is None:
        return None
    engine = create_store_engine(str(directory / "llmload.db"))
    try:
        return [run.name for run in list_runs(engine)]
    finally:
        engine.dispose()


def operator_pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The operator's pods that are not on their way out."""
    pods = cluster.get_json("pods", "-n", namespace, "-l", OPERATOR)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def replaced_and_ready(cluster: Cluster, namespace: str, old: str) -> bool:
    pods = operator_pods(cluster, namespace)
    if len(pods) != 1 or pods[0]["metadata"]["name"] == old:
        return False
    statuses = pods[0].get("status", {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") for s in statuses)


def test_helm_installed_operator_runs_a_loadtest_with_its_own_rbac_and_keeps_history(
    cluster: Cluster, namespace: str, mock_vllm: str
) -> None:
    repo, _, tag = cluster.image.rpartition(":")
    directory = history_volume(namespace)
    local = ["--set", "persistence.storageClass=-"] if directory is not None else []
    # The chart's webhook selects watched namespaces by this label, which Kubernetes sets itself from 1.21.
    cluster.kubectl(
        "label", "namespace", namespace, f"kubernetes.io/metadata.name={namespace}", "--overwrite"
    )
    helm(
        cluster, "install", "llmload", str(CHART), "--namespace", namespace,
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
        "--set", f"watchNamespaces={{{namespace}}}",
        "--set", "operator.reconcileIntervalSeconds=1",
        *local, "--wait", "--timeout", "180s",
    )  # fmt: skip
    try:
        claim = cluster.get_json("pvc", CLAIM, "-n", namespace)
        assert claim["status"]["phase"] == "Bound", claim["status"]
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        # The chart's admission webhook answers through its Service and TLS: a foreign image is refused.
        foreign = loadtest("foreign", loadGenerator={"image": "localhost/llmload/other:1"})
        refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(foreign), check=False)
        assert refused.returncode != 0
        assert "validate-loadtest.llmload.io" in refused.stderr
        assert "not in the operator's image allow-list" in refused.stderr
        cluster.apply(loadtest("via-helm", load={"levels": [2], "requestsPerLevel": 20}), namespace)

        lt = wait_finished(cluster, namespace, "via-helm")

        succeeded = condition(lt, "Succeeded")
        assert succeeded is not None
        assert succeeded["status"] == "True", succeeded
        assert lt["status"]["levels"][0]["successes"] == 20
        stored = condition(lt, "Stored")
        assert stored is not None
        assert stored["status"] == "True", stored
        # The operator pod ran with the chart's ServiceAccount, not an admin's.
        (pod,) = operator_pods(cluster, namespace)
        assert pod["spec"]["serviceAccountName"] == "llmload"
        first = pod["metadata"]["name"]
        assert stored_names(directory) in (None, ["via-helm"])

        # The LoadTest goes, then the operator pod: the run stays in the history on the volume (it cannot
        # have been re-ingested: no LoadTest is left to read it from).
        cluster.kubectl("delete", "loadtest", "via-helm", "-n", namespace, "--wait=true", timeout=120)
        cluster.kubectl("delete", "pod", first, "-n", namespace, "--wait=true", timeout=120)
        wait_until(
            lambda: replaced_and_ready(cluster, namespace, first),
            timeout=120,
            what="a new operator pod on the same history volume",
        )
        assert stored_names(directory) in (None, ["via-helm"])
    finally:
        logs = cluster.kubectl("logs", "-n", namespace, "-l", OPERATOR, "--tail=40", check=False)
        print(f"\n==== operator log ====\n{logs.stdout}{logs.stderr}")
        helm(cluster, "uninstall", "llmload", "--namespace", namespace, "--wait")
        # Nothing cluster-wide stays behind (other tests share the node).
        configs = cluster.get_json("validatingwebhookconfigurations")["items"]
        left = [
            c["metadata"]["name"]
            for c in configs
            if c["metadata"]["name"].startswith(f"llmload-{namespace}-")
        ]
        assert not left, f"the chart's webhook configuration {left} outlived the release"
        if directory is not None:
            # The claim is kept by `helm uninstall` and goes with the namespace; the volume is ours.
            cluster.kubectl("delete", "pv", f"llmload-history-{namespace}", "--wait=false", check=False)
            shutil.rmtree(directory, ignore_errors=True)
