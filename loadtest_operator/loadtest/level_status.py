"""loadgen's merged per-level results → the LoadTest status's per-level results (milliseconds, rounded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from loadgen.result import LevelResult as LoadgenLevel
from loadgen.result import RunResult
from loadgen.stats import MetricStats
from loadtest_operator.api import Goodput, LatencySummary, LevelResult


def _latency(stats: MetricStats) -> LatencySummary | None:
    if stats.count == 0:
        return None
    return LatencySummary(
        p50=_round(stats.p50), p90=_round(stats.p90), p99=_round(stats.p99), mean=_round(stats.mean)
    )


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def level_status(level: LoadgenLevel, has_slo: bool, slo_met: bool | None) -> LevelResult:
    summary = level.summary()
    return LevelResult(
        level=level.offered_load,
        requests=level.requests,
        successes=level.successes,
        errors_by_kind=dict(level.errors) or None,
        requests_per_second=round(level.request_throughput, 3),
        output_tokens_per_second=round(level.output_token_throughput, 3),
        total_tokens_per_second=round(level.total_token_throughput, 3),
        ttft=_latency(summary.ttft),
        tpot=_latency(summary.tpot),
        itl=_latency(summary.itl),
        e2e=_latency(summary.e2e),
        goodput=Goodput(
            count=level.goodput_count,
            per_second=round(level.goodput_per_second, 3),
            percent=round(100.0 * level.goodput_share, 3),
        )
        if has_slo
        else None,
        within_slo=slo_met if has_slo else None,
        client_saturated=level.client_saturated,
        start=datetime.fromtimestamp(level.start, UTC),
        end=datetime.fromtimestamp(level.end, UTC),
        achieved_load=_round(level.achieved_load),
        shard_overlap=_round(level.shard_overlap, 4),
        shard_start_spread_milliseconds=_round(level.shard_start_spread_ms, 1),
    )


def levels_status(result: RunResult) -> list[LevelResult]:
    """Every level of a merged run, judged against the run's own SLO."""
    has_slo = any(result.config.get("slo", {}).get(k) is not None for k in ("ttft_ms", "tpot_ms", "e2e_ms"))
    summaries: Sequence[bool | None] = [s.slo_met for s in result.summaries()]
    return [level_status(level, has_slo, met) for level, met in zip(result.levels, summaries, strict=True)]
