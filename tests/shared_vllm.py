"""The test run's one real vLLM, shared by tests/integration/vllm and tests/e2e/test_vllm.py.

A vLLM start costs 20-90 s of both cores (docs/real-vllm.md), so a run starts it once (the `real_vllm`
fixture of tests/conftest.py):
- as a pod on the local node behind a Service, when the run includes tests that need that (the e2e
  ones); the integration tests then reach the same pod from this machine over the pod bridge;
- otherwise as a process on 127.0.0.1 (`pytest tests/integration/vllm` needs no node).
The tests that use it are run one after another (`group_users`) and it stops after the last of them,
not at the end of the whole run: it holds about 2 GB and a stand-in GPU.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import Cluster, fresh_namespace
from tests.realvllm import Install, VllmServer, manifests

FIXTURE = "real_vllm"
NAME = "vllm"  # the pod's Deployment and Service
PORT = 8000


@dataclass(frozen=True)
class Endpoint:
    url: str
    startup_seconds: float
    namespace: str | None = None  # the pod's namespace; None: a process on 127.0.0.1


def uses_server(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ())


def users(items: list[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if uses_server(item)]


def needs_pod(items: list[pytest.Item]) -> bool:
    """A pod when an e2e test uses the server (it wants a Service in the cluster)."""
    return any("tests/e2e/" in item.nodeid for item in users(items))


def group_users(items: list[pytest.Item]) -> None:
    """Moves every test that uses the server to just after the first one, keeping their order."""
    using = users(items)
    if not using:
        return
    rest = [item for item in items if not uses_server(item)]
    first = items.index(using[0])
    before = items[:first]  # none of them uses it
    items[:] = before + using + rest[len(before) :]


class SharedVllm:
    """Starts the server one way or the other; `stop` is safe to call more than once."""

    def __init__(self, inst: Install, log_path: Path) -> None:
        self.install = inst
        self.log_path = log_path
        self._stack = contextlib.ExitStack()

    def start_process(self) -> Endpoint:
        server = self._stack.enter_context(VllmServer(self.install, self.log_path))
        assert server.startup_seconds is not None
        print(
            f"\nvLLM (a process) answered /health {server.startup_seconds:.1f} s after its start ({server.url})"
        )
        return Endpoint(server.url, server.startup_seconds)

    def start_pod(self, cluster: Cluster, image: str, gpus: int = 1) -> Endpoint:
        ns = self._stack.enter_context(fresh_namespace(cluster, "real-vllm"))
        # ~2 GB: gone before whatever runs next on the shared node, not whenever the namespace goes.
        self._stack.callback(
            cluster.kubectl, "delete", "deployment", NAME, "-n", ns, "--wait=true", "--timeout=60s",
            check=False,
        )  # fmt: skip
        started = time.monotonic()
        for item in manifests(NAME, image, self.install, gpus=gpus, port=PORT):
            cluster.apply(item, ns)
        rollout = cluster.kubectl(
            "rollout", "status", f"deployment/{NAME}", "-n", ns, "--timeout=300s", check=False, timeout=320
        )
        if rollout.returncode != 0:
            logs = cluster.kubectl("logs", "-n", ns, f"deployment/{NAME}", "--tail=40", check=False)
            self.stop()
            raise AssertionError(f"vLLM pod not ready in 300 s:\n{rollout.stderr}\n{logs.stdout}")
        seconds = time.monotonic() - started
        pod = cluster.get_json("pods", "-n", ns, "-l", f"app.kubernetes.io/instance={NAME}")["items"][0]
        url = f"http://{pod['status']['podIP']}:{PORT}"
        print(f"\nvLLM pod Ready {seconds:.1f} s after it was applied ({url}, namespace {ns})")
        return Endpoint(url, seconds, ns)

    def stop(self) -> None:
        self._stack.close()
