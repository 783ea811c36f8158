"""A stand-in for NVIDIA's dcgm-exporter: `/metrics` in its exact format, values from a known script.

    llmload-mock dcgm --host 127.0.0.1 --port 0 --gpus 2 --hostname node-a \\
        --pod 0=llm/vllm-0/vllm --schedule 1700000000:0,1700000010:4

Metric names, HELP texts and types are dcgm-exporter's (etc/default-counters.csv and
dcp-metrics-included.csv); every series carries its label set `gpu, UUID, device, modelName, Hostname,
DCGM_FI_DRIVER_VERSION` and, for a GPU mapped to a pod (`--pod`), `container, namespace, pod`.

Values follow one load signal L (the same for every GPU, as with tensor parallelism): a schedule of
unix-time:load steps (`--schedule`), or vLLM's `vllm:num_requests_running` polled from a URL
(`--load-url`), or a constant. Power is `min(max, idle + per_load * L)` W, utilisation
`min(100, per_load * L)` %, and the energy counter (mJ) integrates exactly the power this exporter
reports: analytically across schedule steps, and piecewise between polls.
Standard library only, so it starts fast and runs anywhere the load generator does.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import re
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (name, type, HELP) exactly as dcgm-exporter's counter files declare them.
GPU_UTIL = ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).")
SM_CLOCK = ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).")
GPU_TEMP = ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).")
POWER_USAGE = ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).")
TOTAL_ENERGY = (
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "counter",
    "Total energy consumption since boot (in mJ).",
)
FB_FREE = ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).")
FB_USED = ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).")
SM_ACTIVE = ("DCGM_FI_PROF_SM_ACTIVE", "gauge", "The ratio of cycles an SM has at least 1 warp assigned.")
TENSOR_ACTIVE = (
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "gauge",
    "Ratio of cycles the tensor (HMMA) pipe is active.",
)
DRAM_ACTIVE = (
    "DCGM_FI_PROF_DRAM_ACTIVE",
    "gauge",
    "Ratio of cycles the device memory interface is active sending or receiving data.",
)
GR_ENGINE_ACTIVE = ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active.")
SM_OCCUPANCY = ("DCGM_FI_PROF_SM_OCCUPANCY", "gauge", "The ratio of number of warps resident on an SM.")
# dcp-metrics-included.csv declares these two gauges (a rate), not counters.
PCIE_TX_BYTES = (
    "DCGM_FI_PROF_PCIE_TX_BYTES",
    "gauge",
    "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - "
    "in bytes per second.",
)
PCIE_RX_BYTES = (
    "DCGM_FI_PROF_PCIE_RX_BYTES",
    "gauge",
    "The rate of data received over the PCIe bus - including both protocol headers and data payloads - "
    "in bytes per second.",
)
# A GPU's energy counter counts since boot: start far from zero, so a reader must take differences.
BOOT_ENERGY_MJ = 7_000_000_000


@dataclass(frozen=True)
class GpuScript:
    """How the GPUs respond to load L (requests running)."""

    idle_watts: float = 60.0
    watts_per_load: float = 40.0
    max_watts: float = 700.0
    util_per_load: float = 20.0
    fb_total_mib: int = 81559
    fb_base_mib: int = 40960  # weights and the pre-allocated KV cache, as vLLM allocates at start
    fb_per_load_mib: int = 512
    # PCIe traffic of a serving GPU: tokens out, prompts in, small against the weights it holds.
    pcie_idle_bytes: int = 2_000_000
    pcie_tx_bytes_per_load: int = 4_000_000
    pcie_rx_bytes_per_load: int = 6_000_000

    def pcie_tx_bytes(self, load: float) -> int:
        return self.pcie_idle_bytes + round(self.pcie_tx_bytes_per_load * load)

    def pcie_rx_bytes(self, load: float) -> int:
        return self.pcie_idle_bytes + round(self.pcie_rx_bytes_per_load * load)

    def power(self, load: float) -> float:
        return min(self.max_watts, self.idle_watts + self.watts_per_load * load)

    def utilization(self, load: float) -> int:
        return min(100, round(self.util_per_load * load))

    def fb_used(self, load: float) -> int:
        return min(self.fb_total_mib, self.fb_base_mib + round(self.fb_per_load_mib * load))


@dataclass(frozen=True)
class Schedule:
    """Load steps: `load` from `time` (unix seconds) until the next step; `before` until the first."""

    times: tuple[float, ...]
    loads: tuple[float, ...]
    before: float = 0.0

    @classmethod
    def parse(cls, text: str, before: float = 0.0) -> Schedule:
        steps = sorted(
            (float(t), float(v)) for t, v in (item.split(":", 1) for item in text.split(",") if item.strip())
        )
        if not steps:
            raise ValueError("empty schedule")
        return cls(tuple(t for t, _ in steps), tuple(v for _, v in steps), before)

    def load_at(self, t: float) -> float:
        i = bisect.bisect_right(self.times, t)
        return self.before if i == 0 else self.loads[i - 1]

    def breakpoints(self, start: float, end: float) -> list[float]:
        return [t for t in self.times if start < t < end]


@dataclass
class PolledLoad:
    """The last value polled from a load URL; it changes only through `Exporter.set_load`."""

    value: float = 0.0

    def load_at(self, t: float) -> float:
        return self.value

    def breakpoints(self, start: float, end: float) -> list[float]:
        return []


@dataclass(frozen=True)
class GpuIdentity:
    index: int
    uuid: str
    pod: tuple[str, str, str] | None  # (namespace, pod, container)


@dataclass
class Exporter:
    gpus: Sequence[GpuIdentity]
    hostname: str
    model_name: str
    driver_version: str
    script: GpuScript
    signal: Schedule | PolledLoad
    profiling: bool = False
    clock: Callable[[], float] = time.time
    _energy_mj: float = field(default=0.0, init=False)  # per GPU since start (all draw the same power)
    _last: float = field(default=math.nan, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _advance(self, now: float) -> None:
        """Integrate power up to `now`, splitting at schedule steps so the integral is exact."""
        if math.isnan(self._last):
            self._last = now
            return
        if now <= self._last:
            return
        edges = [self._last, *self.signal.breakpoints(self._last, now), now]
        for a, b in itertools.pairwise(edges):
            self._energy_mj += self.script.power(self.signal.load_at(a)) * (b - a) * 1000.0
        self._last = now

    def start(self) -> None:
        with self._lock:
            self._advance(self.clock())

    def set_load(self, value: float) -> None:
        """A new polled load: the old one is integrated up to now first."""
        with self._lock:
            self._advance(self.clock())
            if isinstance(self.signal, PolledLoad):
                self.signal.value = value

    def render(self) -> str:
        with self._lock:
            now = self.clock()
            self._advance(now)
            load = self.signal.load_at(now)
            energy = self._energy_mj
        s = self.script
        power = s.power(load)
        util = s.utilization(load)
        used = s.fb_used(load)
        values: list[tuple[tuple[str, str, str], Callable[[GpuIdentity], str]]] = [
            (SM_CLOCK, lambda g: "1980" if load > 0 else "345"),
            (GPU_TEMP, lambda g: str(30 + round(power / 20))),
            (POWER_USAGE, lambda g: f"{power:f}"),
            (TOTAL_ENERGY, lambda g: str(BOOT_ENERGY_MJ + 1_000_000 * g.index + math.floor(energy))),
            (GPU_UTIL, lambda g: str(util)),
            (FB_FREE, lambda g: str(s.fb_total_mib - used)),
            (FB_USED, lambda g: str(used)),
        ]
        if self.profiling:
            values += [
                (SM_ACTIVE, lambda g: f"{util / 100:f}"),
                (TENSOR_ACTIVE, lambda g: f"{util / 200:f}"),
                (DRAM_ACTIVE, lambda g: f"{util / 300:f}"),
                (GR_ENGINE_ACTIVE, lambda g: f"{util / 100:f}"),
                (SM_OCCUPANCY, lambda g: f"{util / 250:f}"),
                (PCIE_TX_BYTES, lambda g: str(s.pcie_tx_bytes(load))),
                (PCIE_RX_BYTES, lambda g: str(s.pcie_rx_bytes(load))),
            ]
        lines: list[str] = []
        for (name, kind, doc), value in values:
            lines += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{{{self.labels(g)}}} {value(g)}" for g in self.gpus]
        return "\n".join(lines) + "\n"

    def labels(self, gpu: GpuIdentity) -> str:
        pairs = [
            ("gpu", str(gpu.index)),
            ("UUID", gpu.uuid),
            ("device", f"nvidia{gpu.index}"),
            ("modelName", self.model_name),
            ("Hostname", self.hostname),
            ("DCGM_FI_DRIVER_VERSION", self.driver_version),
        ]
        if gpu.pod is not None:
            namespace, pod, container = gpu.pod
            pairs += [("container", container), ("namespace", namespace), ("pod", pod)]
        return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def gpu_uuid(hostname: str, index: int) -> str:
    """Stable per host and index, in NVIDIA's GPU-<uuid> form."""
    return f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, f'mock-dcgm:{hostname}:{index}')}"


_RUNNING = re.compile(r"^vllm:num_requests_running(?:\{[^}]*\})?\s+(\S+)", re.MULTILINE)


def running_requests(metrics_text: str) -> float:
    """Sum of vllm:num_requests_running over the series of a vLLM /metrics page."""
    return math.fsum(float(v) for v in _RUNNING.findall(metrics_text))


def _poll(exporter: Exporter, url: str, interval: float, timeout: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                exporter.set_load(running_requests(response.read().decode()))
        except (OSError, ValueError) as err:
            # Keep the last load: a vLLM restart must not look like an idle GPU.
            print(
                json.dumps({"event": "mock_dcgm_poll_failed", "error": str(err)}), file=sys.stderr, flush=True
            )
        time.sleep(interval)


def parse_pod_mapping(items: Sequence[str]) -> dict[int, tuple[str, str, str]]:
    """`INDEX=NAMESPACE/POD/CONTAINER` items."""
    mapping: dict[int, tuple[str, str, str]] = {}
    for item in items:
        index, _, target = item.partition("=")
        parts = target.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"--pod wants INDEX=NAMESPACE/POD/CONTAINER, got {item!r}")
        mapping[int(index)] = (parts[0], parts[1], parts[2])
    return mapping


def make_exporter(args: argparse.Namespace) -> Exporter:
    mapping = parse_pod_mapping(args.pod)
    signal: Schedule | PolledLoad
    signal = Schedule.parse(args.schedule) if args.schedule else PolledLoad(args.constant_load)
    script = GpuScript(args.idle_watts, args.watts_per_load, args.max_watts, args.util_per_load)
    gpus = [GpuIdentity(i, gpu_uuid(args.hostname, i), mapping.get(i)) for i in range(args.gpus)]
    return Exporter(gpus, args.hostname, args.model_name, args.driver_version, script, signal, args.profiling)


def serve(exporter: Exporter, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exporter.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes every second: stay quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_forever(
    exporter: Exporter, host: str, port: int, load_url: str | None, poll_interval: float
) -> int:
    """Export until interrupted; polls `load_url` (vLLM's /metrics) for the load when given."""
    exporter.start()
    server = serve(exporter, host, port)
    if load_url:
        threading.Thread(target=_poll, args=(exporter, load_url, poll_interval, 1.0), daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    print(json.dumps({"event": "mock_dcgm_listening", "host": bound_host, "port": bound_port}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
