"""Benchmark of issue 3: client-bound rate, timing accuracy against server truth, peak memory.

The mock server runs pinned to CPU 0 and every client to CPU 1 (taskset),
all on 127.0.0.1. Bounded: about three minutes in all.

    .venv/bin/python -m benchmarks.loadgen_bench [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.result import RunResult
from loadgen.stats import percentile

PY = sys.executable
MOCK_CPU = "0"
CLIENT_CPU = "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mock:
    def __init__(self, ttft_ms: float, itl_ms: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [PY, "-m", "mockservers", "openai", "--port", str(self.port),
               "--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms)]  # fmt: skip
        self.proc = subprocess.Popen(["taskset", "-c", MOCK_CPU, *cmd], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "mock_server_listening" not in line:
            raise RuntimeError(f"mock server did not start: {line!r}")

    def reset_truth(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/mock/reset", method="POST"), timeout=10
        ).read()

    def truth(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/mock/truth", timeout=30) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_pinned(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[str, int]:
    """Run a client pinned to the client CPU; returns stdout and its peak RSS in KiB."""
    proc = subprocess.Popen(
        ["taskset", "-c", CLIENT_CPU, *cmd],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed with exit code {proc.returncode}")
    return out, usage.ru_maxrss


def run_loadgen(
    url: str, concurrency: int, seconds: float, output_tokens: int, warmup: int, event_loop: str = "asyncio"
) -> tuple[RunResult, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "result.json"
        _, rss_kib = run_pinned(
            [
                PY,
                "-m",
                "loadgen",
                "run",
                "--target-url",
                url,
                "--levels",
                str(concurrency),
                "--level-duration-seconds",
                str(seconds),
                "--input-tokens",
                "32",
                "--output-tokens",
                str(output_tokens),
                "--warmup-requests",
                str(warmup),
                "--log-format",
                "json",
                "--output",
                str(out_path),
            ],
            env={"LOADGEN_EVENT_LOOP": event_loop},
        )
        return RunResult.model_validate_json(out_path.read_text()), rss_kib


def run_bare(url: str, concurrency: int, seconds: float, read: str) -> float:
    out, _ = run_pinned(
        [
            PY,
            "-m",
            "benchmarks.bare_client",
            "--url",
            url,
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
            "--read",
            read,
        ]
    )
    return float(json.loads(out)["req_per_s"])


@dataclass
class Accuracy:
    concurrency: int
    requests: int
    truth_ttft_p50: float
    truth_ttft_p99: float
    truth_itl_mean: float
    ttft_p50: float
    ttft_p99: float
    itl_mean: float
    saturated: bool
    reasons: list[str]
    rss_mib: float
    server_parse_p50: float


def truth_figures(truth: dict[str, Any], since_unix: float) -> tuple[int, float, float, float, float]:
    """Server truth for requests read after `since_unix` (the measured level, not the warmup):
    TTFT from the request's bytes coming off the socket to the first chunk's flush."""
    since = since_unix - truth["unix_minus_perf"]
    keep = [i for i, r in enumerate(truth["read"]) if r >= since]
    read, handled = [truth["read"][i] for i in keep], [truth["handled"][i] for i in keep]
    first_flush, last_flush = [truth["first_flush"][i] for i in keep], [truth["last_flush"][i] for i in keep]
    chunks = [truth["chunks"][i] for i in keep]
    ttft = sorted((f - r) * 1e3 for r, f in zip(read, first_flush, strict=True))
    parse = sorted((h - r) * 1e3 for r, h in zip(read, handled, strict=True))
    gaps = [
        (last - first) * 1e3 / (n - 1)
        for first, last, n in zip(first_flush, last_flush, chunks, strict=True)
        if n > 1
    ]
    return (
        len(ttft),
        percentile(ttft, 50),
        percentile(ttft, 99),
        statistics.fmean(gaps),
        percentile(parse, 50),
    )


def accuracy(concurrency: int, seconds: float) -> Accuracy:
    mock = Mock(ttft_ms=100, itl_ms=10)
    try:
        mock.reset_truth()
        # One warmup round opens every connection before the measured level, as in steady use.
        result, rss_kib = run_loadgen(mock.url, concurrency, seconds, output_tokens=128, warmup=concurrency)
        n, t50, t99, itl, parse50 = truth_figures(mock.truth(), result.levels[0].start)
    finally:
        mock.stop()
    level = result.levels[0]
    s = level.summary()
    assert s.ttft.p50 is not None
    assert s.ttft.p99 is not None
    assert s.itl.mean is not None
    if n != level.requests:
        print(f"  note: server saw {n} streamed requests, loadgen counted {level.requests}")
    return Accuracy(concurrency, level.requests, t50, t99, itl, s.ttft.p50, s.ttft.p99, s.itl.mean,
                    level.client_saturated, level.saturation_reasons, rss_kib / 1024, parse50)  # fmt: skip


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter windows (noisier)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the rate comparison")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else 8.0
    started = time.monotonic()
    print(
        f"mock on CPU {MOCK_CPU}, clients on CPU {CLIENT_CPU}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    print("loadgen and the mock run on asyncio's own event loop (the default)")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other work on these CPUs skews every figure)")

    # 1. Client-bound rate.
    mock = Mock(ttft_ms=0, itl_ms=0)
    with_uvloop = importlib.util.find_spec("uvloop") is not None
    rates: dict[str, list[float]] = {"bare aiohttp (lines)": [], "bare aiohttp (iter_any)": [], "loadgen": []}
    if with_uvloop:
        rates["loadgen (uvloop, opt-in)"] = []
    saturated: list[bool] = []
    try:
        for _ in range(args.rounds):
            rates["bare aiohttp (lines)"].append(run_bare(mock.url, 256, seconds, "lines"))
            rates["bare aiohttp (iter_any)"].append(run_bare(mock.url, 256, seconds, "any"))
            result, _ = run_loadgen(mock.url, 256, seconds, output_tokens=64, warmup=256)
            rates["loadgen"].append(result.levels[0].request_throughput)
            saturated.append(result.levels[0].client_saturated)
            if with_uvloop:
                fast, _ = run_loadgen(
                    mock.url, 256, seconds, output_tokens=64, warmup=256, event_loop="uvloop"
                )
                rates["loadgen (uvloop, opt-in)"].append(fast.levels[0].request_throughput)
    finally:
        mock.stop()
    reference = statistics.median(rates["bare aiohttp (lines)"])
    print("\n1. Client-bound rate: zero TTFT/ITL, 32 input / 64 output tokens, streaming, concurrency 256")
    rows = [["client", "req/s (median)", "runs", "out tok/s", "vs bare (lines)"]]
    for name, values in rates.items():
        med = statistics.median(values)
        rows.append([name, f"{med:.0f}", " ".join(f"{v:.0f}" for v in values), f"{med * 64:.0f}",
                     f"{med / reference:.2f}x"])  # fmt: skip
    print(table(rows))
    print(
        f"loadgen levels flagged client-saturated: {sum(saturated)}/{len(saturated)} (expected: client-bound)"
    )

    # 2 and 3. Timing accuracy and memory.
    print("\n2. Timing accuracy vs server truth: TTFT 100 ms, ITL 10 ms, 128 output tokens (all in ms)")
    results = [accuracy(64, seconds + 4), accuracy(512, seconds + 4)]
    rows = [["conc", "reqs", "TTFT p50 truth", "loadgen", "err", "TTFT p99 truth", "loadgen", "err",
             "ITL mean truth", "loadgen", "err", "saturated"]]  # fmt: skip
    for a in results:
        rows.append([str(a.concurrency), str(a.requests),
                     f"{a.truth_ttft_p50:.2f}", f"{a.ttft_p50:.2f}", f"{a.ttft_p50 - a.truth_ttft_p50:+.2f}",
                     f"{a.truth_ttft_p99:.2f}", f"{a.ttft_p99:.2f}", f"{a.ttft_p99 - a.truth_ttft_p99:+.2f}",
                     f"{a.truth_itl_mean:.3f}", f"{a.itl_mean:.3f}", f"{a.itl_mean - a.truth_itl_mean:+.3f}",
                     "YES" if a.saturated else "no"])  # fmt: skip
    print(table(rows))
    print("  (server truth: request bytes read off the mock's socket -> first chunk flushed; the mock's own")
    print(
        "   parse delay, socket -> handler, p50: "
        + ", ".join(f"c{a.concurrency} {a.server_parse_p50:.2f} ms" for a in results)
        + ")"
    )
    for a in results:
        if a.saturated:
            print(f"  concurrency {a.concurrency} flagged: {'; '.join(a.reasons)}")
    print("\n3. Peak memory (max RSS of the loadgen process)")
    for a in results:
        print(f"  concurrency {a.concurrency}: {a.rss_mib:.0f} MiB")

    c64, c512 = results
    lg = statistics.median(rates["loadgen"])
    checks: list[tuple[str, bool]] = [
        (f"loadgen req/s >= bare (lines) req/s: {lg:.0f} vs {reference:.0f}", lg >= reference),
        (f"c64 TTFT p50 within 1 ms: {c64.ttft_p50 - c64.truth_ttft_p50:+.2f}",
         abs(c64.ttft_p50 - c64.truth_ttft_p50) <= 1.0),
        (f"c64 ITL mean within 0.2 ms: {c64.itl_mean - c64.truth_itl_mean:+.3f}",
         abs(c64.itl_mean - c64.truth_itl_mean) <= 0.2),
        (f"c512 TTFT p50 within 10 ms and ITL mean within 0.5 ms, or flagged: "
         f"{c512.ttft_p50 - c512.truth_ttft_p50:+.2f} / {c512.itl_mean - c512.truth_itl_mean:+.3f}"
         f"{' (flagged)' if c512.saturated else ''}",
         c512.saturated or (abs(c512.ttft_p50 - c512.truth_ttft_p50) <= 10
                            and abs(c512.itl_mean - c512.truth_itl_mean) <= 0.5)),
        (f"peak memory at c512 under 150 MB: {c512.rss_mib * 1.048576:.0f} MB", c512.rss_mib * 1.048576 < 150),
    ]  # fmt: skip
    print("\nTargets")
    for text, ok in checks:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    print(
        f"\n(benchmark took {time.monotonic() - started:.0f} s; load average after: {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
