"""loadgen's merged per-level results → the LoadTest status's per-level results (milliseconds, rounded).

In Rate mode the headline latencies (ttft, e2e) count from the scheduled send time, as goodput and the SLO
verdict do (loadgen/result.py); the figures from the send are kept beside them. What can grow with the run
(error kinds, saturation reasons) is bounded to the API's limits here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from loadgen.result import LevelResult as LoadgenLevel
from loadgen.result import LevelSummary, RunResult
from loadgen.stats import MetricStats
from loadtest_operator.api import ClientSaturation, Goodput, LatencyFrom, LatencySummary, LevelResult
from loadtest_operator.api.status import (
    MAX_ERROR_KINDS,
    MAX_SATURATION_REASON_LENGTH,
    MAX_SATURATION_REASONS,
    MAX_TURNS_SHOWN,
    TurnLatency,
)

OTHER_ERRORS = "other"
CUT_MARKER = "…"


def _latency(stats: MetricStats | None) -> LatencySummary | None:
    if stats is None or stats.count == 0:
        return None
    return LatencySummary(
        p50=_round(stats.p50),
        p90=_round(stats.p90),
        p95=_round(stats.p95),
        p99=_round(stats.p99),
        p999=_round(stats.p99_9),
        mean=_round(stats.mean),
        count=stats.count,
        stddev=_round(stats.stddev),
    )


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def bounded_errors(errors: Mapping[str, int]) -> dict[str, int] | None:
    """At most MAX_ERROR_KINDS kinds: the most frequent kept, the rest added up under `other`."""
    if len(errors) <= MAX_ERROR_KINDS:
        return dict(errors) or None
    ranked = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[: MAX_ERROR_KINDS - 1])
    rest = sum(n for _, n in ranked[MAX_ERROR_KINDS - 1 :])
    kept[OTHER_ERRORS] = kept.get(OTHER_ERRORS, 0) + rest
    return dict(sorted(kept.items()))


def bounded_reasons(reasons: Sequence[str]) -> list[str] | None:
    """At most MAX_SATURATION_REASONS lines of at most MAX_SATURATION_REASON_LENGTH characters; a merge
    of many shards can bring one reason per shard and threshold."""
    if not reasons:
        return None
    lines = [_cut(r) for r in reasons]
    if len(lines) > MAX_SATURATION_REASONS:
        shown = MAX_SATURATION_REASONS - 1
        lines = [*lines[:shown], f"... and {len(lines) - shown} more (the shards' logs have every one)"]
    return lines


def _cut(text: str) -> str:
    if len(text) <= MAX_SATURATION_REASON_LENGTH:
        return text
    return text[: MAX_SATURATION_REASON_LENGTH - len(CUT_MARKER)] + CUT_MARKER


def _saturation(level: LoadgenLevel) -> ClientSaturation | None:
    """None for a level that measured nothing (a shard share of 0): an empty object says nothing."""
    saturation = ClientSaturation(
        reasons=bounded_reasons(level.saturation_reasons),
        schedule_lag_milliseconds_p99=_round(level.schedule_lag_p99_ms),
        loop_lag_milliseconds_p50=_round(level.loop_lag_p50_ms),
        loop_lag_milliseconds_p99=_round(level.loop_lag_p99_ms),
        loop_lag_milliseconds_max=_round(level.loop_lag_max_ms),
    )
    return saturation if saturation != ClientSaturation() else None


def _by_turn(level: LoadgenLevel, shown: bool) -> list[TurnLatency] | None:
    """TTFT by turn, turns from MAX_TURNS_SHOWN on in the last entry (their raw values or histograms
    added up)."""
    if not shown:
        return None
    per_turn = level.ttft_by_turn_stats(MAX_TURNS_SHOWN)
    return [
        TurnLatency(
            turn=index + 1,
            requests=stats.count,
            p50=_round(stats.p50),
            p90=_round(stats.p90),
            p99=_round(stats.p99),
            mean=_round(stats.mean),
        )
        for index, stats in enumerate(per_turn)
    ]


def level_status(
    level: LoadgenLevel, has_slo: bool, slo_met: bool | None, summary: LevelSummary | None = None
) -> LevelResult:
    summary = summary or level.summary()
    rate = level.load_mode == "rate"
    return LevelResult(
        level=level.offered_load,
        requests=level.requests,
        successes=level.successes,
        errors_by_kind=bounded_errors(level.errors),
        requests_per_second=round(level.request_throughput, 3),
        output_tokens_per_second=round(level.output_token_throughput, 3),
        total_tokens_per_second=round(level.total_token_throughput, 3),
        latency_from=LatencyFrom.SCHEDULED_TIME if rate else LatencyFrom.SEND_TIME,
        ttft=_latency(summary.headline_ttft),
        tpot=_latency(summary.tpot),
        itl=_latency(summary.itl),
        e2e=_latency(summary.headline_e2e),
        ttft_from_send=_latency(summary.ttft) if rate else None,
        e2e_from_send=_latency(summary.e2e) if rate else None,
        schedule_lag=_latency(summary.schedule_lag) if rate else None,
        token_mismatches=level.token_mismatch_count,
        usage_missing=level.usage_missing_count,
        goodput=Goodput(
            count=level.goodput_count,
            per_second=round(level.goodput_per_second, 3),
            percent=round(100.0 * level.goodput_share, 3),
        )
        if has_slo
        else None,
        within_slo=slo_met if has_slo else None,
        client_saturated=level.client_saturated,
        saturation=_saturation(level),
        start=datetime.fromtimestamp(level.start, UTC),
        end=datetime.fromtimestamp(level.end, UTC),
        ttft_by_turn=_by_turn(level, summary.ttft_by_turn is not None),
        achieved_load=_round(level.achieved_load),
        shard_overlap=_round(level.shard_overlap, 4),
        shard_start_spread_milliseconds=_round(level.shard_start_spread_ms, 1),
    )


def levels_status(result: RunResult) -> list[LevelResult]:
    """Every level of a merged run, judged against the run's own SLO."""
    has_slo = any(result.config.get("slo", {}).get(k) is not None for k in ("ttft_ms", "tpot_ms", "e2e_ms"))
    summaries = result.summaries()  # once: from histograms, a level's summary costs about a millisecond
    return [
        level_status(level, has_slo, summary.slo_met, summary)
        for level, summary in zip(result.levels, summaries, strict=True)
    ]
