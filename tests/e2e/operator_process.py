"""The operator as a local process watching one namespace (fast to start and to kill mid-run).

The Helm e2e test runs the same operator as a Deployment with the chart's own ServiceAccount.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import Cluster


class OperatorProcess:
    def __init__(self, cluster: Cluster, namespace: str, workdir: Path, **settings: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.sqlite_path = workdir / "llmload.db"
        self.log_path = workdir / "operator.log"
        self.env = {
            **os.environ,
            "KUBECONFIG": cluster.kubeconfig,
            "LLMLOAD_NAMESPACES": namespace,
            "LLMLOAD_LOADGEN_IMAGE": cluster.image,
            "LLMLOAD_SQLITE_PATH": str(self.sqlite_path),
            "LLMLOAD_RECONCILE_INTERVAL_SECONDS": "1",
            "LLMLOAD_METRICS_PORT": "0",
            "LLMLOAD_HEALTH_PORT": "0",
            **{f"LLMLOAD_{k.upper()}": v for k, v in settings.items()},
        }
        self.env.pop("DATABASE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest_operator.main"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a node dies under the operator."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart_if_exited(self) -> bool:
        """What a Deployment's kubelet does: start the operator again when its process has ended."""
        if self.proc is not None and self.proc.poll() is not None:
            self.start()
            return True
        return False

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
