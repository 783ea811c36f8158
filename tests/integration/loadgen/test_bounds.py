"""Issue 16: the load generator stays bounded against any server.

Each test runs `loadgen run` as its own process against `llmload-mock openai --fault ...` (both on
127.0.0.1) and checks that the faulted requests fail with their own error kind, the others succeed, the
process's peak memory stays under PEAK_RSS_MB and the run ends in time. The figures are printed
(`pytest -s` shows them).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadgen import runner
from loadgen.cli import read_result
from loadgen.client import Outcome, send
from loadgen.config import DEFAULT_MAX_IN_FLIGHT
from loadgen.result import LevelResult

from .conftest import StartMock, mock_process, small_config

# loadgen's own footprint is about 60 MB; a run that held one faulted answer whole would pass 300 MB.
PEAK_RSS_MB = 150
REQUESTS = 27  # with --fault-every 3: 9 faulted requests (each of the mock's 9 garbage events once)
FAULTED = REQUESTS // 3


@dataclass
class Measured:
    level: LevelResult
    peak_rss_mb: float
    seconds: float


# Runs `python -m loadgen ARGS` and, at its exit, writes its own peak RSS (VmHWM, KiB) to the file named
# first. Not the rusage of the child: Linux counts the parent's size at fork in the child's ru_maxrss.
_PEAK_AT_EXIT = """
import atexit, runpy, sys
peak_file = sys.argv.pop(1)
def write_peak():
    status = open("/proc/self/status").read()
    open(peak_file, "w").write(status.split("VmHWM:")[1].split()[0])
atexit.register(write_peak)
runpy.run_module("loadgen", run_name="__main__", alter_sys=True)
"""


def run_measured(url: str, tmp_path: Path, *flags: str, timeout: float = 60.0) -> Measured:
    """`loadgen run` in its own process; returns its level, its own peak RSS and how long it ran."""
    out, peak = tmp_path / "result.json", tmp_path / "peak_kib"
    args = ["run", "--target-url", url, "--output", str(out), *flags]
    with (tmp_path / "stderr.txt").open("w") as stderr:
        began = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _PEAK_AT_EXIT, str(peak), *args], stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"loadgen ran past {timeout:.0f} s")
        seconds = time.monotonic() - began
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    return Measured(read_result(out).levels[0], int(peak.read_text()) * 1024 / 1e6, seconds)


def report(case: str, m: Measured) -> None:
    print(
        f"\n[bounds] {case}: peak RSS {m.peak_rss_mb:.0f} MB, {m.seconds:.1f} s, "
        f"{m.level.requests} requests, {m.level.successes} ok, errors {m.level.errors}"
    )


def closed_loop(*extra: str) -> tuple[str, ...]:
    return ("--levels", "4", "--requests-per-level", str(REQUESTS), "--output-tokens", "16",
            "--request-timeout-seconds", "20", *extra)  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "extra", "kind"),
    [
        ("endless-event", (), "response_too_large"),
        ("endless-event", ("--no-stream",), "response_too_large"),
        ("huge-error", (), "http_500"),
        ("huge-error", ("--no-stream",), "http_500"),
        ("malformed-chunk", (), "malformed_stream"),
        ("malformed-chunk", ("--api", "chat"), "malformed_stream"),
        ("malformed-chunk", ("--no-stream",), "malformed_stream"),
    ],
)
def test_a_faulted_request_fails_alone_and_memory_stays_bounded(
    tmp_path: Path, fault: str, extra: tuple[str, ...], kind: str
) -> None:
    with mock_process("--fault", fault, "--fault-every", "3", "--itl-ms", "1") as url:
        m = run_measured(url, tmp_path, *closed_loop(*extra), timeout=60)
    report(" ".join((fault, *extra)), m)
    assert m.level.errors == {kind: FAULTED}
    assert m.level.successes == REQUESTS - FAULTED
    assert m.peak_rss_mb < PEAK_RSS_MB
    assert m.seconds < 30  # a capped answer fails at once: nothing waits for the 20 s timeout


def test_a_stalled_server_in_rate_mode_meets_the_default_in_flight_cap(tmp_path: Path) -> None:
    """Every request hangs: without the cap the arrivals would open 2,000 sockets in 5 s."""
    with mock_process("--fault", "hang") as url:
        m = run_measured(
            url, tmp_path, "--load-mode", "rate", "--arrival", "constant", "--levels", "400",
            "--level-duration-seconds", "5", "--request-timeout-seconds", "4", "--output-tokens", "16",
            timeout=60,
        )  # fmt: skip
    report(f"hang, rate 400/s for 5 s, cap {DEFAULT_MAX_IN_FLIGHT}", m)
    level = m.level
    assert level.errors == {"timeout": level.requests}
    # 1,024 by 2.6 s; then one more for each that times out (from 4 s on), until the level's end at 5 s.
    # On a loaded machine the first timeouts can land after the level's end: then exactly the cap.
    assert DEFAULT_MAX_IN_FLIGHT <= level.requests < 2 * DEFAULT_MAX_IN_FLIGHT
    assert level.client_saturated
    assert any(f"in-flight cap {DEFAULT_MAX_IN_FLIGHT} reached" in r for r in level.saturation_reasons)
    assert m.peak_rss_mb < PEAK_RSS_MB
    assert m.seconds < 5 + 4 + 10  # the level, the last request's timeout, start-up


@pytest.mark.parametrize("max_in_flight", [None, 6])
async def test_the_in_flight_cap_holds_against_a_stalled_server(
    start_mock: StartMock, monkeypatch: pytest.MonkeyPatch, max_in_flight: int | None
) -> None:
    """In process, with a small default: the cap is never passed, the level is flagged and ends in time."""
    monkeypatch.setattr(runner, "DEFAULT_MAX_IN_FLIGHT", 8)
    in_flight = peak = 0

    async def counting_send(*args: Any) -> Outcome:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await send(*args)
        finally:
            in_flight -= 1

    monkeypatch.setattr(runner, "send", counting_send)
    _, url = await start_mock(fault="hang")
    config = small_config(
        url, load_mode="rate", arrival="constant", levels=[100], requests_per_level=None,
        level_duration_seconds=1.0, request_timeout_seconds=0.5, max_in_flight=max_in_flight,
    )  # fmt: skip
    began = time.monotonic()
    level = (await runner.run(config)).levels[0]
    cap = max_in_flight or 8
    assert peak == cap
    assert level.errors == {"timeout": level.requests}
    assert level.requests <= cap * 3  # three rounds of timeouts fit in the level's second
    assert [r for r in level.saturation_reasons if r.startswith(f"in-flight cap {cap} reached")]
    assert time.monotonic() - began < 1.0 + 0.5 + 1.0  # nothing is sent after the level's end


async def test_a_good_server_in_rate_mode_is_not_flagged_for_the_cap(start_mock: StartMock) -> None:
    _, url = await start_mock()
    config = small_config(url, load_mode="rate", levels=[50], requests_per_level=25)
    level = (await runner.run(config)).levels[0]
    assert (level.successes, level.errors) == (25, {})
    assert not [r for r in level.saturation_reasons if "in-flight cap" in r]
