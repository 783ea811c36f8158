"""The results service as the chart installs it, with real tokens and RBAC: two ServiceAccount users with
rights in one namespace each see only their namespace's runs, through the API and through
`kubectl llmload history`; a purge without `delete loadtests` is refused; `llmload compare` of two
LoadTests run against a fast and a slow mock prints the TTFT delta the mocks were set to; the operator
stores the LoadTests' labels (history -l selects by them); `llmload show` of a deleted LoadTest shows its
stored run."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import Cluster, fresh_namespace, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.test_helm import CHART, helm, history_volume
from tests.e2e.test_loadtest import condition, loadtest, wait_finished

FAST_TTFT_MS, SLOW_TTFT_MS = 40.0, 140.0
LLMLOAD = str(Path(sys.executable).parent / "llmload")
SMALL = {"levels": [2], "requestsPerLevel": 30}


def mock(cluster: Cluster, namespace: str, name: str, ttft_ms: float) -> None:
    args = ["--model", "e2e-model", "--ttft-ms", str(ttft_ms), "--itl-ms", "5"]
    cluster.apply(mock_vllm_deployment(name, cluster.mock_image, gpus=1, args=args), namespace)
    cluster.apply(service(name, {"app.kubernetes.io/instance": name}), namespace)


def user(cluster: Cluster, namespace: str, name: str, verbs: list[str]) -> str:
    """A ServiceAccount with `verbs` on loadtests in `namespace` only; its token (1.20: the token Secret)."""
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
            "rules": [{"apiGroups": ["llmload.io"], "resources": ["loadtests"], "verbs": verbs}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]  # fmt: skip
    for manifest in manifests:
        cluster.apply(manifest, namespace)

    def secret_name() -> str | None:
        secrets = cluster.get_json("serviceaccount", name, "-n", namespace).get("secrets") or []
        return str(secrets[0]["name"]) if secrets else None

    wait_until(lambda: secret_name() is not None, timeout=30, what=f"the token Secret of {name}")
    secret = cluster.get_json("secret", str(secret_name()), "-n", namespace)
    return base64.b64decode(secret["data"]["token"]).decode()


def cli(
    *args: str, env: dict[str, str] | None = None, command: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(command or [LLMLOAD]), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env or dict(os.environ),
    )


def runs(url: str, token: str, **params: str) -> list[str]:
    response = httpx.get(
        f"{url}/api/v1/runs", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return sorted(item["ref"] for item in response.json()["items"])


@contextlib.contextmanager
def second_namespace(cluster: Cluster, namespace: str) -> Iterator[str]:
    with fresh_namespace(cluster, f"{namespace[:30]}-b") as other:
        yield other


def test_results_service_scopes_history_by_kubernetes_rights(cluster: Cluster, namespace: str) -> None:
    repo, _, tag = cluster.image.rpartition(":")
    directory = history_volume(namespace)
    local = ["--set", "persistence.storageClass=-"] if directory is not None else []
    with second_namespace(cluster, namespace) as other:
        for ns in (namespace, other):
            cluster.kubectl("label", "namespace", ns, f"kubernetes.io/metadata.name={ns}", "--overwrite")
        mock(cluster, namespace, "mock-fast", FAST_TTFT_MS)
        mock(cluster, namespace, "mock-slow", SLOW_TTFT_MS)
        mock(cluster, other, "mock-vllm", FAST_TTFT_MS)
        helm(
            cluster, "install", "llmload", str(CHART), "--namespace", namespace,
            "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
            "--set", f"watchNamespaces={{{namespace},{other}}}",
            "--set", "operator.reconcileIntervalSeconds=1",
            *local, "--wait", "--timeout", "180s",
        )  # fmt: skip
        try:
            alice = user(cluster, namespace, "alice", ["get", "list", "delete"])
            bob = user(cluster, other, "bob", ["get", "list"])
            for ns, name, target in (
                (namespace, "fast", "mock-fast"),
                (namespace, "slow", "mock-slow"),
                (other, "theirs", "mock-vllm"),
            ):
                spec = loadtest(name, target={"serviceRef": {"name": target, "port": 8000}}, load=SMALL)
                spec["spec"]["loadGenerator"]["parallelism"] = 1
                spec["metadata"]["labels"] = {"speed": name, "suite": "e2e"}
                cluster.apply(spec, ns)
            for ns, name in ((namespace, "fast"), (namespace, "slow"), (other, "theirs")):
                lt = wait_finished(cluster, ns, name)
                stored = condition(lt, "Stored")
                assert stored is not None
                assert stored["status"] == "True", stored

            ip = cluster.get_json("service", "llmload-results", "-n", namespace)["spec"]["clusterIP"]
            url = f"http://{ip}:8080"
            wait_until(
                lambda: httpx.get(f"{url}/healthz", timeout=5).status_code == 200,
                timeout=60,
                what="results /healthz",
            )

            # The API: each user sees their own namespace only; no token is a 401, another's namespace a 403.
            assert runs(url, alice) == [f"{namespace}/fast:0", f"{namespace}/slow:0"]
            assert runs(url, bob) == [f"{other}/theirs:0"]
            assert httpx.get(f"{url}/api/v1/runs", timeout=30).status_code == 401
            forbidden = httpx.get(
                f"{url}/api/v1/runs",
                params={"namespace": namespace},
                headers={"Authorization": f"Bearer {bob}"},
                timeout=30,
            )
            assert forbidden.status_code == 403
            assert (
                f"system:serviceaccount:{other}:bob may not get loadtests.llmload.io in namespace '{namespace}'"
                in forbidden.json()["detail"]
            )

            # The CLI at a URL, and as a kubectl plugin through its own port-forward.
            listed = cli("history", "--url", url, "--token", alice, "-o", "json")
            assert listed.returncode == 0, listed.stderr
            assert sorted(i["name"] for i in json.loads(listed.stdout)["items"]) == ["fast", "slow"]
            env = {
                **os.environ,
                "PATH": f"{Path(LLMLOAD).parent}:{os.environ['PATH']}",
                "KUBECONFIG": cluster.kubeconfig,
            }
            plugin = cli(
                "llmload",
                "history",
                "--token",
                bob,
                "--results-namespace",
                namespace,
                env=env,
                command=[cluster.kubectl_bin],
            )
            assert plugin.returncode == 0, plugin.stderr
            print(f"\n$ kubectl llmload history  (as bob)\n{plugin.stdout}")
            assert f"{other}/theirs:0" in plugin.stdout
            assert f"{namespace}/" not in plugin.stdout

            # The operator stored the labels: a selector picks by them (kubectl's syntax).
            labelled = cli("history", "--url", url, "--token", alice, "-l", "suite=e2e,speed notin (fast)",
                           "-o", "json")  # fmt: skip
            assert labelled.returncode == 0, labelled.stderr
            items = json.loads(labelled.stdout)["items"]
            assert [(i["name"], i["labels"]) for i in items] == [("slow", {"speed": "slow", "suite": "e2e"})]

            # Purge without delete rights is refused, and nothing goes.
            refused = cli("purge", f"{other}/theirs", "--url", url, "--token", bob)
            assert refused.returncode == 1
            assert "may not delete loadtests.llmload.io" in refused.stderr
            assert runs(url, bob) == [f"{other}/theirs:0"]

            # compare: the slow mock's TTFT is SLOW - FAST ms above the fast one's.
            compared = cli("compare", f"{namespace}/fast", f"{namespace}/slow", "--url", url, "--token", alice,
                           "--metric", "ttft_p50_ms", "--metric", "ttft_mean_ms", "-o", "json")  # fmt: skip
            assert compared.returncode == 0, compared.stderr
            body = json.loads(compared.stdout)
            by = {m["metric"]: m["changes"][0] for m in body["levels"][0]["metrics"]}
            delta = SLOW_TTFT_MS - FAST_TTFT_MS
            assert abs(by["ttft_p50_ms"]["absolute"] - delta) < 0.25 * delta, by["ttft_p50_ms"]
            assert by["ttft_mean_ms"]["test"] == "welch_t"
            assert by["ttft_mean_ms"]["verdict"] == "worse", by["ttft_mean_ms"]
            table = cli("compare", f"{namespace}/fast", f"{namespace}/slow", "--url", url, "--token", alice)
            assert table.returncode == 0, table.stderr
            print(f"\n$ llmload compare {namespace}/fast {namespace}/slow\n{table.stdout}")
            assert "TTFT p50 (ms)" in table.stdout
            assert "worse" in table.stdout

            # Export, read back; then alice purges her own run.
            out = Path(tempfile.mkdtemp(prefix="llmload-export-")) / "fast.csv"
            exported = cli(
                "export",
                f"{namespace}/fast",
                "--format",
                "csv",
                "-o",
                str(out),
                "--url",
                url,
                "--token",
                alice,
            )
            assert exported.returncode == 0, exported.stderr
            assert "ttft_p50_ms" in out.read_text().splitlines()[0]
            shutil.rmtree(out.parent)
            purged = cli("purge", f"{namespace}/fast", "--url", url, "--token", alice)
            assert purged.returncode == 0, purged.stderr
            assert runs(url, alice) == [f"{namespace}/slow:0"]

            # show of a LoadTest that is gone: its stored run, through the service.
            cluster.kubectl("delete", "loadtest", "slow", "-n", namespace, "--wait=true")
            shown = cli("show", "slow", "-n", namespace, "--url", url, "--token", alice, env=env)
            assert shown.returncode == 0, shown.stderr
            assert f"no LoadTest {namespace}/slow in the cluster" in shown.stderr
            assert shown.stdout.startswith(f"LoadTest {namespace}/slow: Succeeded")
            assert "TTFT p50/p90/p99 ms" in shown.stdout
            print(f"\n$ llmload show slow -n {namespace}  (deleted: the stored run)\n{shown.stdout}")
            neither = cli("show", "never", "-n", namespace, "--url", url, "--token", alice, env=env)
            assert neither.returncode == 1
            assert "no LoadTest of that name, no stored run of it" in neither.stderr
        finally:
            logs = cluster.kubectl(
                "logs", "-n", namespace, "-l", "app.kubernetes.io/component=results", "--tail=20", check=False
            )
            print(f"\n==== results service log ====\n{logs.stdout}{logs.stderr}")
            helm(cluster, "uninstall", "llmload", "--namespace", namespace, "--wait")
            for kind in ("clusterrole", "clusterrolebinding"):
                left = cluster.kubectl("get", kind, f"llmload-results-{namespace}", check=False)
                assert left.returncode != 0, f"the chart's {kind} outlived the release"
            if directory is not None:
                cluster.kubectl("delete", "pv", f"llmload-history-{namespace}", "--wait=false", check=False)
                shutil.rmtree(directory, ignore_errors=True)
