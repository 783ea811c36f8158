"""How long the real vLLM (CPU build, the tiny model) takes to answer /health, per start-up setting.

Figures, not a test. Starts vLLM on 127.0.0.1 with the settings of `tests/realvllm.py` added one at a
time, from `STOCK` (the CPU build's defaults, as the tests started it before) to `TESTS` (what the tests
use now), in rounds so that every setting sees the same machine load. After each start a short load
(8 users, 32 streamed completions of 32 tokens) shows what the setting costs in throughput, and the
server's memory (RSS of its processes) is read. Each start is split into its phases, from vLLM's log
(whole seconds): imports of the API server, the model-class inspection, the engine-core process's
imports, the worker process's imports, model load + KV cache + warm-up, the API server's last steps.

    .venv/bin/python -m benchmarks.vllm_startup [--rounds 2]

Needs `hack/setup-vllm.sh` (run first; seconds when cached). Each start takes 20-90 s on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import itertools
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from loadgen.config import build_config
from loadgen.runner import run
from tests.realvllm import STOCK, TESTS, Tuning, VllmServer, install

STEPS: list[tuple[str, Tuning]] = [
    ("stock (before)", STOCK),
    ("+ model-class cache", dataclasses.replace(STOCK, warm_model_info=True)),
    ("+ worker in the engine process", dataclasses.replace(STOCK, warm_model_info=True,
                                                           worker_in_engine_process=True)),
    ("+ KV cache 256 MiB", dataclasses.replace(TESTS, omp_threads=None)),
    ("+ 1 OpenMP thread (the tests')", TESTS),
]  # fmt: skip


# Where each phase ends, by the first log line that contains the text (vLLM 0.32.0's messages).
PHASES = [
    ("imports", "non-default args:"),
    ("model class", "Resolved architecture"),
    ("engine process", "Initializing a V1 LLM engine"),
    ("worker process", "Starting to load model"),
    ("load+KV+warm-up", "init engine (profile, create kv cache, warmup model)"),
]
_STAMP = re.compile(r" (\d\d-\d\d \d\d:\d\d:\d\d) \[")


def phases(log: str, started: float, healthy: float) -> list[float]:
    """Seconds of each phase of PHASES, then the rest until /health answered."""
    year = datetime.datetime.fromtimestamp(started).year
    ends: list[float] = []
    for _, text in PHASES:
        line = next((ln for ln in log.splitlines() if text in ln), None)
        m = _STAMP.search(line) if line else None
        if m is None:  # a phase this setting skips ends where the previous one did
            ends.append(ends[-1] if ends else started)
            continue
        stamp = datetime.datetime.strptime(f"{year}-{m.group(1)}", "%Y-%m-%d %H:%M:%S")
        ends.append(max(stamp.timestamp(), ends[-1] if ends else started))
    ends.append(healthy)
    edges = [started, *ends]
    return [b - a for a, b in itertools.pairwise(edges)]


def rss_bytes(pgid: int) -> int:
    """Resident memory of every process in the server's process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ProcessLookupError):
            continue
    return total


async def probe(url: str) -> float:
    config = build_config({
        "target_url": url, "levels": [8], "requests_per_level": 32, "warmup_requests": 0,
        "request_timeout_seconds": 60, "workload": {"input_tokens": {"mean": 64}, "output_tokens": 32},
    })  # fmt: skip
    result = await run(config)
    level = result.levels[0]
    if level.successes != 32:
        raise RuntimeError(f"probe: {level.successes}/32 succeeded, errors {level.errors}")
    return level.request_throughput


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="starts per setting (default 2)")
    args = parser.parse_args()
    inst = install()
    rows: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in STEPS}
    split: dict[str, list[list[float]]] = {name: [] for name, _ in STEPS}
    with tempfile.TemporaryDirectory(prefix="vllm-startup-") as tmp:
        for r in range(args.rounds):
            for i, (name, tuning) in enumerate(STEPS):
                # A fresh, empty VLLM_CACHE_ROOT where the setting does not use the filled one.
                cache = None if tuning.warm_model_info else Path(tmp) / f"cache-{r}-{i}"
                server = VllmServer(inst, Path(tmp) / f"{r}-{i}.log", tuning=tuning, cache=cache)
                load = os.getloadavg()[0]
                started = time.time()
                with server:
                    assert server.proc is not None
                    assert server.startup_seconds is not None
                    healthy = started + server.startup_seconds
                    rps = asyncio.run(probe(server.url))
                    rss = rss_bytes(server.proc.pid)
                rows[name].append((server.startup_seconds, rps, rss))
                split[name].append(phases(server.log_path.read_text(errors="replace"), started, healthy))
                print(f"round {r + 1} {name}: {server.startup_seconds:.1f} s to /health (load {load:.1f}), "
                      f"{rps:.1f} req/s, RSS {rss / 1e9:.2f} GB", flush=True)  # fmt: skip
                time.sleep(2)
    print(f"\n{'setting':<34} {'to /health (s)':>22} {'median':>7} {'req/s':>6} {'RSS GB':>7}")
    for name, runs in rows.items():
        starts = ", ".join(f"{s:.1f}" for s, _, _ in runs)
        print(f"{name:<34} {starts:>22} {statistics.median(s for s, _, _ in runs):>7.1f} "
              f"{statistics.median(p for _, p, _ in runs):>6.1f} {max(m for _, _, m in runs) / 1e9:>7.2f}")  # fmt: skip
    names = [n for n, _ in PHASES] + ["API ready"]
    print(f"\nphases, median seconds\n{'setting':<34} " + " ".join(f"{n:>15}" for n in names))
    for name, parts in split.items():
        medians = [statistics.median(p[i] for p in parts) for i in range(len(names))]
        print(f"{name:<34} " + " ".join(f"{m:>15.0f}" for m in medians))


if __name__ == "__main__":
    main()
