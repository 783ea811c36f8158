"""The load generator's `--workers N`: request rate per worker for 1 and 2 workers, on 127.0.0.1.

A client-bound setting (256 streams of 64 output tokens from a mock with zero TTFT and ITL, as in
loadgen_bench.py), so the client's CPU
is what limits the rate. The server is pinned to CPU 0 and its CPU share is measured: if the server, or
the machine, is saturated, more workers cannot show more, and the figure says so instead of a ratio.

    .venv/bin/python -m benchmarks.workers_bench
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadgen_bench import Mock
from loadgen.result import RunResult

PY = sys.executable
SECONDS = 8.0
CONCURRENCY = 256


@dataclass(frozen=True)
class Rate:
    workers: int
    requests_per_second: float
    server_cpu: float  # share of one core the mock server used during the run
    client_cpu: float  # cores the client (all its workers) used


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(mock: Mock, workers: int, cpus: str) -> Rate:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [PY, "-m", "loadgen", "run", "--target-url", mock.url, "--levels", str(CONCURRENCY),
               "--level-duration-seconds", str(SECONDS), "--input-tokens", "16", "--output-tokens", "64",
               "--warmup-requests", str(CONCURRENCY), "--workers", str(workers), "--log-format", "json",
               "--output", str(out)]  # fmt: skip
        server_before = cpu_seconds(mock.proc.pid)
        started = time.monotonic()
        proc = subprocess.Popen(["taskset", "-c", cpus, *cmd], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"loadgen --workers {workers} failed")
        server = (cpu_seconds(mock.proc.pid) - server_before) / wall
        client = (usage.ru_utime + usage.ru_stime) / wall
        level = RunResult.model_validate_json(out.read_text()).levels[0]
    return Rate(workers, level.request_throughput, server, client)


def run() -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) rows."""
    cores = os.cpu_count() or 1
    client_cpus = ",".join(str(c) for c in range(1, cores)) or "0"
    mock = Mock(ttft_ms=0, itl_ms=0)
    try:
        rates = [measure(mock, w, client_cpus) for w in (1, 2)]
    finally:
        mock.stop()
    one, two = rates
    load = os.getloadavg()[0]
    rows = [
        (f"loadgen --workers {r.workers}: requests/s per worker", f"{r.requests_per_second / r.workers:,.0f}",
         "rate per worker", f"(server {r.server_cpu:.0%} of a core, client {r.client_cpu:.2f} cores)")
        for r in rates
    ]  # fmt: skip
    ratio = two.requests_per_second / one.requests_per_second
    client_cores = max(cores - 1, 1)
    if load > cores:
        rows.append(("load average while measured", f"{load:.1f}", f"< {cores} (the cores)",
                     "[busy machine: other work shares these cores; every rate above is low]"))  # fmt: skip
    if client_cores < 2 or two.server_cpu > 0.9:
        why = (
            f"{cores} cores: the server takes one, {client_cores} left for the client"
            if client_cores < 2
            else f"the server used {two.server_cpu:.0%} of its core"
        )
        rows.append(("loadgen 2 workers / 1 worker", f"{ratio:.2f}x", "~2x with a core per worker",
                     f"[not shown: {why}; needs >= 3 cores]"))  # fmt: skip
    else:
        rows.append(("loadgen 2 workers / 1 worker", f"{ratio:.2f}x", ">= 1.6x",
                     "[met]" if ratio >= 1.6 else "[missed]"))  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run():
        print("  ".join(row))
