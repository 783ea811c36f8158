"""The operator installed the way users install it: `helm install` of the chart, with the chart's own
ServiceAccount and RBAC, runs a LoadTest to success."""

from __future__ import annotations

import subprocess

from tests.e2e.harness import ROOT, Cluster
from tests.e2e.test_loadtest import condition, loadtest, mock_vllm, wait_finished

__all__ = ["mock_vllm"]  # a fixture, imported for its use below

CHART = ROOT / "helm" / "llmload"


def helm(cluster: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [cluster.helm_bin, "--kubeconfig", cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_helm_installed_operator_runs_a_loadtest_with_its_own_rbac(
    cluster: Cluster, namespace: str, mock_vllm: str
) -> None:
    repo, _, tag = cluster.image.rpartition(":")
    helm(
        cluster, "install", "llmload", str(CHART), "--namespace", namespace,
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
        "--set", f"watchNamespaces={{{namespace}}}",
        "--set", "operator.reconcileIntervalSeconds=1",
        "--wait", "--timeout", "120s",
    )  # fmt: skip
    try:
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
        pods = cluster.get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/component=operator")
        assert pods["items"][0]["spec"]["serviceAccountName"] == "llmload"
    finally:
        logs = cluster.kubectl(
            "logs", "-n", namespace, "-l", "app.kubernetes.io/component=operator", "--tail=40", check=False
        )
        print(f"\n==== operator log ====\n{logs.stdout}{logs.stderr}")
        helm(cluster, "uninstall", "llmload", "--namespace", namespace, "--wait")
