"""Restarting the local node's kube-apiserver (hack/cluster-up.sh starts it with `setsid`, its pid in
$CLUSTER_DIR/pids/kube-apiserver.pid, its log in $CLUSTER_DIR/logs/kube-apiserver.log): stopped with
SIGTERM (SIGKILL after a few seconds) and started again with the very same command line, the pid file updated so that
hack/cluster-down.sh still finds it. Only with the cluster lock held (every e2e run holds it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.harness import Cluster, hack_vars, wait_until

GRACE_SECONDS = 5.0


def _paths() -> tuple[Path, Path]:
    root = Path(hack_vars("CLUSTER_DIR")["CLUSTER_DIR"])
    return root / "pids" / "kube-apiserver.pid", root / "logs" / "kube-apiserver.log"


def serving(cluster: Cluster) -> bool:
    try:
        return cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:  # starting: it accepts the connection and answers nothing yet
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def restarted_apiserver(cluster: Cluster) -> Iterator[float]:
    """Stops the API server (yields once it no longer answers), and in any case, however the body ends,
    starts it again and waits until it serves. The figure: seconds from the stop to serving again."""
    pid_file, log = _paths()
    pid = int(pid_file.read_text().strip())
    command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    stopped = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    try:
        # Its graceful shutdown drains long-running requests (watches) for up to a minute: after a few
        # seconds it is killed, as a crashed API server would be (its state is all in etcd).
        deadline = time.monotonic() + GRACE_SECONDS
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), timeout=30, what="kube-apiserver to stop", interval=0.2)
        yield stopped
    finally:
        if not serving(cluster):
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [c.decode() for c in command],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            pid_file.write_text(f"{proc.pid}\n")
            wait_until(
                lambda: serving(cluster), timeout=120, what="kube-apiserver to serve again", interval=0.5
            )
