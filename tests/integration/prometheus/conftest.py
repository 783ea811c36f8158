"""A real Prometheus (Debian's 2.42) for the GPU-metrics integration tests, plus helpers to run the
stand-in exporters and the mock vLLM server as processes.

Prometheus listens on 127.0.0.1 (a free port), keeps its TSDB in a temporary directory and scrapes every
second. Debian's build has no kubernetes_sd_configs, so targets come from file_sd files the tests write,
labelled the way kube-prometheus labels pod targets (namespace, pod, container, job, service). Two jobs:

- `kube-prometheus` reads `sd/pods-*.json` with `honor_labels: false`, so an exporter's own `namespace`/
  `pod`/`container` labels arrive as `exported_*` (dcgm-exporter scraped by a ServiceMonitor);
- `honor-labels` reads `sd/honor-*.json` with `honor_labels: true` (the exporter's labels win).

Series recorded in the past (OpenMetrics text with timestamps, `recorded_series`) are written into the
TSDB with `promtool tsdb create-blocks-from openmetrics` before Prometheus starts, so a test can query a
window of hours that took no time to record.

A missing binary FAILS the tests instead of skipping them: CI must never go green because Prometheus
quietly was not there. Prometheus is stopped afterwards, also when a test or the start-up fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest

PROMETHEUS_ENV = "LLMLOAD_PROMETHEUS"
DEFAULT_PROMETHEUS = "/usr/bin/prometheus"
LOOPBACK = "127.0.0.1"
SCRAPE_INTERVAL_SECONDS = 1

CONFIG = """\
global:
  scrape_interval: {interval}s
  scrape_timeout: {interval}s
scrape_configs:
  - job_name: kube-prometheus
    honor_labels: false
    file_sd_configs:
      - files: ["{sd}/pods-*.json"]
        refresh_interval: 1s
  - job_name: honor-labels
    honor_labels: true
    file_sd_configs:
      - files: ["{sd}/honor-*.json"]
        refresh_interval: 1s
"""


def find_prometheus(env: Mapping[str, str] = os.environ, default: Path = Path(DEFAULT_PROMETHEUS)) -> Path:
    """$LLMLOAD_PROMETHEUS, else Debian's /usr/bin/prometheus, else PATH; fails the tests when absent."""
    candidates = [
        env.get(PROMETHEUS_ENV, ""),
        str(default),
        shutil.which("prometheus", path=env.get("PATH", "")),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    pytest.fail(
        "the prometheus binary was not found; the GPU-metrics integration tests need a real Prometheus. "
        f"Install it (Debian: apt-get install prometheus) or set {PROMETHEUS_ENV}=/path/to/prometheus.",
        pytrace=False,
    )


def find_promtool(prometheus: Path) -> Path:
    """promtool next to the prometheus binary (Debian ships both in the prometheus package), else PATH."""
    for candidate in (str(prometheus.parent / "promtool"), shutil.which("promtool")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    pytest.fail(
        f"promtool was not found next to {prometheus} or on PATH (Debian: apt-get install prometheus)"
    )


def backfill(promtool: Path, openmetrics: str, data_dir: Path) -> None:
    """Write OpenMetrics samples (with timestamps, ending in `# EOF`) into blocks under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "recorded.om"
    source.write_text(openmetrics)
    done = subprocess.run(
        [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(
            f"promtool could not backfill the recorded series:\n{done.stdout}{done.stderr}", pytrace=False
        )


def free_port(host: str = LOOPBACK) -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Distinct free ports (all held open until every one is picked)."""
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)
        ]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


Targets = Mapping[str, Sequence[tuple[str, Mapping[str, str]]]]


def write_targets(sd_dir: Path, file_name: str, targets: Sequence[tuple[str, Mapping[str, str]]]) -> None:
    """Write a file_sd file atomically (Prometheus may read it any moment): (address, labels) pairs."""
    doc = [{"targets": [address], "labels": dict(labels)} for address, labels in targets]
    tmp = sd_dir / f".{file_name}.tmp"
    tmp.write_text(json.dumps(doc))
    tmp.replace(sd_dir / file_name)


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    sd_dir: Path

    def set_targets(self, file_name: str, targets: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Change targets of a running Prometheus. Its discovery manager passes updates on at most every
        5 s, so targets known up front belong in `run_prometheus(targets=...)` instead."""
        write_targets(self.sd_dir, file_name, targets)

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def wait_until_discovered(self, instances: Sequence[str], timeout: float = 15.0) -> None:
        """Until Prometheus scrapes these instances (its discovery first passes targets on after up to
        5 s); they need not be listening yet."""
        deadline = time.monotonic() + timeout
        while True:
            response = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=5)
            response.raise_for_status()
            active = {t["labels"]["instance"] for t in response.json()["data"]["activeTargets"]}
            if set(instances) <= active:
                return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"targets not discovered within {timeout}s: {sorted(set(instances) - active)}",
                    pytrace=False,
                )
            time.sleep(0.2)

    def wait_until_up(self, instances: Sequence[str], timeout: float = 15.0) -> None:
        """Until every instance (host:port) has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        wanted = set(instances)
        while True:
            up = {r["metric"]["instance"] for r in self.query("up == 1")}
            if wanted <= up:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"targets not scraped within {timeout}s: {sorted(wanted - up)}", pytrace=False)
            time.sleep(0.2)


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # CI stops a job with SIGTERM; as KeyboardInterrupt, pytest still runs the teardown below.
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def run_prometheus(
    root: Path,
    targets: Targets | None = None,
    host: str = LOOPBACK,
    ready_timeout: float = 30.0,
    recorded: str | None = None,
) -> Iterator[PrometheusServer]:
    """Start Prometheus with the file_sd config above under `root`; stop it on exit, whatever happens.

    `targets` (file name -> (address, labels) pairs) are written before the start, so the first
    scrape comes within one interval. `host` is the listen address: loopback here; a cluster test
    passes the address its pods can reach. `recorded` (OpenMetrics with timestamps) is backfilled
    into the TSDB first.
    """
    binary = find_prometheus()
    sd_dir, data, log = root / "sd", root / "data", root / "prometheus.log"
    sd_dir.mkdir(parents=True)
    for file_name, file_targets in (targets or {}).items():
        write_targets(sd_dir, file_name, file_targets)
    if recorded:
        backfill(find_promtool(binary), recorded, data)
    config = root / "prometheus.yml"
    config.write_text(CONFIG.format(interval=SCRAPE_INTERVAL_SECONDS, sd=sd_dir))
    port = free_port(host)
    command = [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address={host}:{port}",
        "--log.level=warn",
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        url = f"http://{host}:{port}"
        _wait_ready(url, process, log, ready_timeout)
        yield PrometheusServer(url=url, sd_dir=sd_dir)
    finally:
        stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"prometheus exited with {process.returncode}:\n{log.read_text(errors='replace')}",
                pytrace=False,
            )
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"prometheus not ready within {timeout}s:\n{log.read_text(errors='replace')}", pytrace=False)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def run_listener(command: Sequence[str], event: str, timeout: float = 15.0) -> Iterator[int]:
    """Run a Python module that prints a JSON line `{"event": <event>, "port": N}` once it listens."""
    process = subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"{' '.join(command)} exited before listening ({process.poll()})", pytrace=False)
            doc = json.loads(line)
            if doc.get("event") == event:
                assert doc["host"] == LOOPBACK
                yield int(doc["port"])
                return
        pytest.fail(f"{' '.join(command)} did not listen within {timeout}s", pytrace=False)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def scrape_targets() -> Targets:
    """What `prometheus` scrapes from its start; a test module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def recorded_series() -> str | None:
    """OpenMetrics samples backfilled before `prometheus` starts; a test module overrides this fixture."""
    return None


@pytest.fixture(scope="module")
def prometheus(scrape_targets: Targets, recorded_series: str | None) -> Iterator[PrometheusServer]:
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    root = Path(tempfile.mkdtemp(prefix="llmload-prom-"))
    try:
        with run_prometheus(root, scrape_targets, recorded=recorded_series) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
