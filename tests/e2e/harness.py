"""The e2e harness: the local node (or a cluster the user already has), kubectl, namespaces.

With ``USE_EXISTING_CLUSTER=true`` and ``KUBECONFIG`` (the envtest convention) the same tests
run against any cluster; otherwise ``hack/cluster-up.sh`` builds and starts the local node.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HACK = ROOT / "hack"


def hack_vars(*names: str) -> dict[str, str]:
    """Values of variables defined in hack/lib.sh (cache paths, image names)."""
    script = f". {HACK / 'lib.sh'} >/dev/null 2>&1; " + "; ".join(f'echo "${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout
    return dict(zip(names, out.splitlines(), strict=True))


def use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").lower() == "true"


@dataclass
class Cluster:
    kubeconfig: str
    kubectl_bin: str
    helm_bin: str
    image: str  # the product image: operator, load generator
    mock_image: str  # the product image plus mockservers (`llmload-mock`): the mock vLLM and DCGM pods
    started_here: bool

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def get_json(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return result

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input=text)


def start_cluster() -> Cluster:
    v = hack_vars("ADMIN_KUBECONFIG", "KUBECTL", "HELM_BIN", "PROJECT_IMAGE", "MOCK_IMAGE")
    if use_existing_cluster():
        kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        return Cluster(
            kubeconfig=kubeconfig,
            kubectl_bin=os.environ.get("KUBECTL", "kubectl"),
            helm_bin=os.environ.get("HELM", "helm"),
            image=os.environ.get("LLMLOAD_IMAGE", v["PROJECT_IMAGE"]),
            mock_image=os.environ.get("LLMLOAD_MOCK_IMAGE", v["MOCK_IMAGE"]),
            started_here=False,
        )
    running = subprocess.run(["bash", str(HACK / "cluster-up.sh"), "--status"], check=False).returncode == 0
    for script in ("build-kubernetes.sh", "build-images.sh", "get-helm.sh"):
        _run_hack(script)
    if running:
        _run_hack("import-images.sh")
    else:
        _run_hack("cluster-up.sh")
    return Cluster(
        kubeconfig=v["ADMIN_KUBECONFIG"],
        kubectl_bin=v["KUBECTL"],
        helm_bin=v["HELM_BIN"],
        image=v["PROJECT_IMAGE"],
        mock_image=v["MOCK_IMAGE"],
        started_here=not running,
    )


def stop_cluster(cluster: Cluster) -> None:
    if cluster.started_here and os.environ.get("LLMLOAD_KEEP_CLUSTER") != "1":
        _run_hack("cluster-down.sh")


def _run_hack(script: str) -> None:
    proc = subprocess.run(["bash", str(HACK / script)], check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"hack/{script} failed (exit {proc.returncode}); its output above says why")


@contextmanager
def fresh_namespace(cluster: Cluster, prefix: str) -> Iterator[str]:
    name = f"{prefix[:40].rstrip('-')}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Pods need their ServiceAccount before they can be created.
    wait_until(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        what=f"default ServiceAccount in {name}",
    )
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def dump_namespace(cluster: Cluster, namespace: str) -> str:
    """Pods, events and every container's log: what a person debugging a failure wants first."""
    parts = [
        cluster.kubectl("get", "all,configmaps,events", "-n", namespace, "-o", "wide", check=False).stdout
    ]
    pods = cluster.kubectl("get", "pods", "-n", namespace, "-o", "name", check=False).stdout.split()
    for pod in pods:
        parts.append(f"---- logs of {pod} ----")
        logs = cluster.kubectl("logs", "-n", namespace, pod, "--all-containers", "--tail=60", check=False)
        parts.append(logs.stdout + logs.stderr)
    return "\n".join(parts)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
