"""Benchmark of issue 16: the operator's read + merge + status build of shard results. Figures, not a test.

Builds synthetic shard results (Rate mode, streamed, an SLO: every histogram in play) as shards would,
encodes them as a shard writes its result ConfigMap, and then, in a fresh process (so its peak RSS is the
operator's part alone), does what the operator does when the last shard ends: read and merge the
results in a worker thread (`asyncio.to_thread`) while a coroutine ticks every millisecond on the event
loop to measure how long the loop is ever blocked, then build the status levels on the loop.

    .venv/bin/python benchmarks/merge_bench.py [--quick]

Eight distinct shards are generated per scenario (each with its full share of requests) and the 64
shards cycle through them: generating 10 M requests in Python would take minutes and measures the
shard, not the operator. The operator's part reads and merges 64 results either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.compact import encode_compact
from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.result import LevelRaw, LevelResult, RunResult, build_level

DISTINCT_SHARDS = 8
SLO = Slo(ttft_ms=500, tpot_ms=40, e2e_ms=20_000, percentile=99)
LOOP_TARGET_MS = 100.0


@dataclass(frozen=True)
class Scenario:
    name: str
    shards: int
    levels: int
    requests: int
    rss_target_mb: float | None
    wall_target_s: float | None


SCENARIOS = (
    Scenario("64 shards x 1 M requests", 64, 4, 1_000_000, 300.0, 10.0),
    Scenario("10 M requests (64 shards)", 64, 8, 10_000_000, 300.0, None),
    Scenario("64 levels (64 shards x 2 M requests)", 64, 64, 2_000_000, None, None),
)
QUICK = (Scenario("quick: 16 shards x 100 k", 16, 2, 100_000, None, 10.0),)


def shard_level(rng: random.Random, index: int, n: int, start: float) -> LevelResult:
    """n successful requests of one shard in one level: lognormal TTFT (~100 ms, long tail), 50-1,000
    output tokens at ~12 ms each, prompts of 50-4,000 tokens, an exponential schedule lag."""
    raw = LevelRaw()
    itl = LogHistogram()
    for _ in range(n):
        ttft = int(rng.lognormvariate(11.5, 0.6))
        out = rng.randint(50, 1000)
        raw.ttft_us.append(ttft)
        raw.e2e_us.append(ttft + int(out * max(rng.gauss(12_000, 2_000), 1000)))
        raw.output_tokens.append(out)
        raw.input_tokens.append(rng.randint(50, 4000))
        raw.schedule_lag_us.append(int(rng.expovariate(1 / 500)))
        raw.turn.append(0)
    _fill(itl, [int(rng.lognormvariate(9.4, 0.4)) for _ in range(min(n * 4, 50_000))])
    loop_lag = LogHistogram()
    _fill(loop_lag, [int(rng.expovariate(1 / 300)) for _ in range(2000)])
    return build_level(
        index=index,
        load_mode="rate",
        offered_load=10,
        streamed=True,
        start=start,
        end=start + 60.0,
        requests=n + 3,
        errors={"http_500": 2, "timeout": 1},
        raw=raw,
        itl=itl,
        loop_lag=loop_lag,
        token_mismatch_count=0,
        usage_missing_count=0,
        slo=SLO,
        thresholds=SaturationThresholds(),
        busy_seconds=n * 1.5,
    )


def _fill(hist: LogHistogram, values_us: list[int]) -> None:
    if hasattr(hist, "add_counts_us"):
        hist.add_counts_us(values_us)
    else:  # the code before issue 16 (for the figures before)
        for v in values_us:
            hist.add(v / 1e6)


def shard_texts(s: Scenario) -> tuple[list[str], float]:
    """The 64 (or s.shards) result texts, and the seconds the shards' side took."""
    per_level = s.requests // s.shards // s.levels
    config = {"slo": SLO.model_dump(), "saturation": SaturationThresholds().model_dump()}
    started = time.perf_counter()
    distinct = []
    for shard in range(DISTINCT_SHARDS):
        rng = random.Random(shard)
        levels = [shard_level(rng, i, per_level, 1000.0 + 70 * i) for i in range(s.levels)]
        distinct.append(encode_compact(RunResult(model="m", config=config, levels=levels)))
    return [distinct[i % DISTINCT_SHARDS] for i in range(s.shards)], time.perf_counter() - started


# -- the operator's part (a fresh process) ---------------------------------------------------------------


async def _operator(texts: dict[int, str]) -> dict[str, Any]:
    from loadtest_operator.loadtest.level_status import levels_status

    merge = _merger()  # imported before the clock starts, as the operator has it from its start

    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    tick = asyncio.create_task(ticker())
    # The same ticker with nothing else to do: what the machine itself costs (other processes, the OS).
    await asyncio.sleep(2.0)
    idle, worst = worst, 0.0
    started = time.perf_counter()
    merged = await asyncio.to_thread(merge, texts)
    merged_at = time.perf_counter()
    # The observer (GPU windows) and the plan each build the status levels, on the loop, with awaits between.
    statuses = [levels_status(merged)]
    await asyncio.sleep(0)
    statuses.append(levels_status(merged))
    ended = time.perf_counter()
    await asyncio.sleep(0.05)
    stop.set()
    await tick
    level = statuses[0][0]
    return {
        "merge_s": merged_at - started,
        "status_s": (ended - merged_at) / 2,
        "wall_s": ended - started,
        "loop_block_ms": worst * 1e3,
        "idle_block_ms": idle * 1e3,
        "requests": sum(lv.requests for lv in merged.levels),
        "exact": all(len(lv.raw) == lv.successes for lv in merged.levels),
        "ttft_p99_ms": level.ttft.p99 if level.ttft else None,
        "histogram_json_bytes_per_level": len(
            json.dumps(
                {k: h.model_dump(mode="json") for k, h in getattr(merged.levels[0], "histograms", {}).items()}
            )
        ),
        "status_level_json_bytes": len(level.model_dump_json(by_alias=True, exclude_none=True)),
    }


def _merger() -> Callable[[dict[int, str]], RunResult]:
    try:  # what the operator's observer runs in its worker thread
        from loadtest_operator.reconcile.loadtest import merge_shard_results as read_and_merge
    except ImportError:  # the code before issue 16: decode every shard, then merge the raw lists
        from loadgen.compact import MAX_RESULT_REQUESTS, decode_compact  # type: ignore[attr-defined]
        from loadgen.merge import merge_results

        def before(texts: dict[int, str]) -> RunResult:
            return merge_results(
                [decode_compact(t, max_requests=MAX_RESULT_REQUESTS) for t in texts.values()]
            )

        return before

    def now(texts: dict[int, str]) -> RunResult:
        read = read_and_merge(texts)
        assert read.merged is not None, read.unreadable
        assert not read.unreadable, read.unreadable
        return read.merged

    return now


def _status_mb(field: str) -> float:
    """VmHWM (peak) or VmRSS of this process, MB. Not ru_maxrss: Linux keeps that across fork and exec,
    so a child of a large parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def operator_main(path: str) -> None:
    texts = dict(enumerate(json.loads(Path(path).read_text())))
    baseline = _status_mb("VmRSS")
    figures = asyncio.run(_operator(texts))
    figures["baseline_rss_mb"] = baseline
    figures["peak_rss_mb"] = _status_mb("VmHWM")
    print(json.dumps(figures))


# -- the report ---------------------------------------------------------------------------------------------


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"(target < {target:g}) [{'met' if value < target else 'missed'}]"


def run(s: Scenario) -> list[tuple[str, str, str, str]]:
    """Print the scenario's figures; its (figure, value, target, verdict) rows for a table."""
    texts, shard_seconds = shard_texts(s)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(texts, f)
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        child = subprocess.run(
            [sys.executable, __file__, "--operator", f.name],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"the operator's part failed:\n{child.stderr[-3000:]}")
        out = child.stdout
    finally:
        os.unlink(f.name)
    r = json.loads(out.strip().splitlines()[-1])
    sizes = sorted({len(t) for t in texts})
    print(
        f"\n{s.name}: {s.levels} levels, {r['requests']:,} requests merged ({'exact' if r['exact'] else 'histograms'})"
    )
    print(
        f"  shards' side (generate, build, encode {DISTINCT_SHARDS} distinct shards): {shard_seconds:.1f} s"
    )
    print(f"  result ConfigMap bytes per shard: {min(sizes):,} to {max(sizes):,} (budget 921,600)")
    print(
        f"  peak RSS: {r['peak_rss_mb']:.0f} MB (after imports and reading the texts: {r['baseline_rss_mb']:.0f} MB) {verdict(r['peak_rss_mb'], s.rss_target_mb)}"
    )
    print(
        f"  read + merge (worker thread): {r['merge_s']:.2f} s; status build (on the loop): {r['status_s'] * 1e3:.1f} ms"
    )
    print(f"  merged and status built: {r['wall_s']:.2f} s {verdict(r['wall_s'], s.wall_target_s)}")
    print(
        f"  longest event-loop block: {r['loop_block_ms']:.1f} ms {verdict(r['loop_block_ms'], LOOP_TARGET_MS)}; "
        f"the same ticker idle, over 2 s before the merge: {r['idle_block_ms']:.1f} ms (the machine's own)"
    )
    print(f"  level 0: TTFT p99 {r['ttft_p99_ms']} ms; its histograms as JSON {r['histogram_json_bytes_per_level']:,} bytes; its status level {r['status_level_json_bytes']:,} bytes")  # fmt: skip
    return rows(s, r)


def rows(s: Scenario, r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def row(
        what: str, value: float, unit: str, target: float | None, note: str = ""
    ) -> tuple[str, str, str, str]:
        digits = {"s": 2, "ms": 1}.get(unit, 0)
        met = "" if target is None else ("[met]" if value < target else "[missed]")
        goal = "" if target is None else f"< {target:g} {unit}"
        return f"merge, {s.name}: {what}", f"{value:.{digits}f} {unit}", goal, f"{met} {note}".strip()

    out = [
        row("merged and status built", r["wall_s"], "s", s.wall_target_s,
            f"(read + merge {r['merge_s']:.2f} s in a worker thread)"),
        row("peak RSS of the merging process", r["peak_rss_mb"], "MB", s.rss_target_mb,
            f"(imports and the shards' texts alone: {r['baseline_rss_mb']:.0f} MB)"),
        row("longest event-loop block", r["loop_block_ms"], "ms", LOOP_TARGET_MS,
            f"(the same ticker idle: {r['idle_block_ms']:.1f} ms)"),
    ]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one small scenario (seconds)")
    parser.add_argument("--scenario", type=int, help="run only this one (0: 64 x 1 M, 1: 10 M, 2: 64 levels)")
    parser.add_argument("--operator", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.operator:
        operator_main(args.operator)
        return
    chosen = (
        QUICK
        if args.quick
        else SCENARIOS
        if args.scenario is None
        else SCENARIOS[args.scenario : args.scenario + 1]
    )
    table = [row for scenario in chosen for row in run(scenario)]
    print()
    for row in table:
        print("  " + "  ".join(row))


if __name__ == "__main__":
    main()
