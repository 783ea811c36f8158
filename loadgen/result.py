"""What a run hands back: per-level results with the raw data to merge them exactly."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import HistogramData, LogHistogram
from loadgen.stats import MetricStats, describe, empty_stats, percentile

US = 1e-6
US_TO_MS = 1e-3


class LevelRaw(BaseModel):
    """One entry per successful request, in completion order; times in integer microseconds.

    Integers make JSON and the compact form round-trip exactly, so a merged
    result computes the very same percentiles as the whole would.
    """

    ttft_us: list[int] = Field(default_factory=list)
    e2e_us: list[int] = Field(default_factory=list)
    output_tokens: list[int] = Field(default_factory=list)
    input_tokens: list[int] = Field(default_factory=list)
    # send time minus scheduled time (rate mode); 0 in concurrency mode.
    schedule_lag_us: list[int] = Field(default_factory=list)
    # 0-based turn of the request's conversation (multi-turn runs); all 0 for single requests. Results
    # of older load generators have none: read as all 0.
    turn: list[int] = Field(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        if not self.turn and self.ttft_us:
            self.turn = [0] * len(self.ttft_us)

    def __len__(self) -> int:
        return len(self.ttft_us)

    def extend(self, other: LevelRaw) -> None:
        self.ttft_us.extend(other.ttft_us)
        self.e2e_us.extend(other.e2e_us)
        self.output_tokens.extend(other.output_tokens)
        self.input_tokens.extend(other.input_tokens)
        self.schedule_lag_us.extend(other.schedule_lag_us)
        self.turn.extend(other.turn)


def tpot_us(ttft: int, e2e: int, output_tokens: int) -> float | None:
    """(E2E - TTFT) / (output tokens - 1); undefined for a single token."""
    if output_tokens < 2:
        return None
    return (e2e - ttft) / (output_tokens - 1)


def meets_slo(slo: Slo, ttft: int, e2e: int, output_tokens: int, schedule_lag: int = 0) -> bool:
    """Whether one request meets every objective set. TTFT and E2E count from the scheduled send time
    (`schedule_lag` is 0 in concurrency mode), so queueing before the send is not hidden; TPOT does not
    depend on where the clock starts."""
    if slo.ttft_ms is not None and (ttft + schedule_lag) * US_TO_MS > slo.ttft_ms:
        return False
    if slo.e2e_ms is not None and (e2e + schedule_lag) * US_TO_MS > slo.e2e_ms:
        return False
    if slo.tpot_ms is not None:
        tpot = tpot_us(ttft, e2e, output_tokens)
        if tpot is not None and tpot * US_TO_MS > slo.tpot_ms:
            return False
    return True


class LevelSummary(BaseModel):
    """Human-facing figures of one level; all latencies in milliseconds."""

    ttft: MetricStats
    tpot: MetricStats
    itl: MetricStats
    e2e: MetricStats
    # Rate mode only (open loop): latency counted from the scheduled send time.
    ttft_from_schedule: MetricStats | None = None
    e2e_from_schedule: MetricStats | None = None
    schedule_lag: MetricStats | None = None
    slo_met: bool | None = None
    # Multi-turn runs: TTFT of the requests of each turn (index 0: first turns), streamed only.
    ttft_by_turn: list[MetricStats] | None = None

    # The headline: what a user arriving on schedule sees (from the scheduled time in rate mode, where
    # queueing behind the in-flight cap or a busy client must show; from the send otherwise).
    @property
    def headline_ttft(self) -> MetricStats:
        return self.ttft if self.ttft_from_schedule is None else self.ttft_from_schedule

    @property
    def headline_e2e(self) -> MetricStats:
        return self.e2e if self.e2e_from_schedule is None else self.e2e_from_schedule


class LevelResult(BaseModel):
    index: int
    load_mode: Literal["concurrency", "rate"]
    offered_load: int = Field(description="concurrency (users) or rate (req/s) this result covers")
    streamed: bool
    start: float = Field(description="unix seconds: start of the measured window")
    end: float = Field(description="unix seconds: end of the measured window")
    duration_seconds: float
    requests: int
    successes: int
    errors: dict[str, int]
    input_tokens_total: int
    output_tokens_total: int
    request_throughput: float
    output_token_throughput: float
    total_token_throughput: float
    goodput_count: int
    goodput_per_second: float
    goodput_share: float
    token_mismatch_count: int = Field(
        description="answers whose length differs from the one pinned for the request, or (streamed) "
        "whose usage.completion_tokens differs from the content chunks seen"
    )
    usage_missing_count: int = Field(description="no usage from the server; chunks counted instead")
    client_saturated: bool
    saturation_reasons: list[str]
    schedule_lag_p99_ms: float | None
    loop_lag_p50_ms: float | None
    loop_lag_p99_ms: float | None
    loop_lag_max_ms: float | None
    parts: int = Field(1, description="how many shard/worker results were merged into this one")
    busy_seconds: float | None = Field(
        None, description="sum over every request, failed ones too, of end - sent (None: not recorded)"
    )
    achieved_load: float | None = Field(
        None,
        description="the load the window really carried: busy_seconds / duration (time-averaged "
        "concurrency) in concurrency mode, requests sent / duration in rate mode",
    )
    shard_overlap: float | None = Field(
        None,
        description="merged levels: the fraction of the window during which every part that sent "
        "anything was running (None for a single part)",
    )
    shard_start_spread_ms: float | None = Field(
        None, description="merged levels: latest start minus earliest start of the parts (None for one)"
    )
    raw: LevelRaw
    itl: HistogramData
    loop_lag: HistogramData

    def summary(self, slo: Slo | None = None) -> LevelSummary:
        raw = self.raw
        tpots: list[float] = []
        if self.streamed:
            for t, e, n in zip(raw.ttft_us, raw.e2e_us, raw.output_tokens, strict=True):
                value = tpot_us(t, e, n)
                if value is not None:
                    tpots.append(value)
        itl = LogHistogram.from_data(self.itl)
        # Without a stream the first content comes with the whole answer: there is no TTFT to measure
        # (nor TPOT or ITL), and the figures stay empty rather than equal to E2E.
        ttft_us = raw.ttft_us if self.streamed else []
        summary = LevelSummary(
            ttft=describe(ttft_us, US_TO_MS),
            tpot=describe(tpots, US_TO_MS),
            itl=histogram_stats(itl),
            e2e=describe(raw.e2e_us, US_TO_MS),
        )
        ttfts, e2es = ttft_us, raw.e2e_us
        if self.load_mode == "rate":
            lags = raw.schedule_lag_us
            ttfts = [t + lag for t, lag in zip(ttft_us, lags, strict=False)]
            e2es = [e + lag for e, lag in zip(raw.e2e_us, lags, strict=True)]
            summary.ttft_from_schedule = describe(ttfts, US_TO_MS)
            summary.e2e_from_schedule = describe(e2es, US_TO_MS)
            summary.schedule_lag = describe(lags, US_TO_MS)
        if ttft_us and any(raw.turn):
            summary.ttft_by_turn = ttft_by_turn(ttft_us, raw.turn)
        if slo is not None:
            # Judged on the headline latency (from the schedule in rate mode), like goodput.
            summary.slo_met = slo_verdict(slo, ttfts, tpots, e2es) if len(raw) else False
        return summary


def ttft_by_turn(ttft_us: list[int], turns: list[int]) -> list[MetricStats]:
    """TTFT per turn index, from the first turn to the last one any request had."""
    per_turn: list[list[int]] = [[] for _ in range(max(turns) + 1)]
    for ttft, turn in zip(ttft_us, turns, strict=True):
        per_turn[turn].append(ttft)
    return [describe(values, US_TO_MS) for values in per_turn]


def _without_stream_objectives(slo: Slo) -> Slo:
    """Not streamed, only E2E is measured: TTFT and TPOT objectives cannot be judged (the operator
    refuses them; a CLI run ignores them)."""
    return slo.model_copy(update={"ttft_ms": None, "tpot_ms": None})


def slo_verdict(slo: Slo, ttft_us: list[int], tpot_values_us: list[float], e2e_us: list[int]) -> bool:
    """True when the SLO percentile of every thresholded metric is within its threshold."""
    checks: list[tuple[float | None, list[float]]] = [
        (slo.ttft_ms, [float(v) for v in ttft_us]),
        (slo.tpot_ms, tpot_values_us),
        (slo.e2e_ms, [float(v) for v in e2e_us]),
    ]
    for threshold, values in checks:
        if threshold is None or not values:
            continue
        if percentile(sorted(values), slo.percentile) * US_TO_MS > threshold:
            return False
    return True


def histogram_stats(hist: LogHistogram) -> MetricStats:
    if hist.count == 0:
        return empty_stats()
    ms = 1e3
    return MetricStats(
        count=hist.count,
        mean=hist.mean * ms,
        min=hist.min * ms,
        max=hist.max * ms,
        p50=hist.quantile(50) * ms,
        p90=hist.quantile(90) * ms,
        p95=hist.quantile(95) * ms,
        p99=hist.quantile(99) * ms,
        p99_9=hist.quantile(99.9) * ms,
    )


class RunResult(BaseModel):
    schema_version: int = 1
    model: str
    config: dict[str, Any] = Field(description="the run config as data (never holds the API key)")
    levels: list[LevelResult]
    calibration: str | None = Field(None, description="how prompt words were fitted to server tokens")
    warnings: list[str] = Field(default_factory=list)

    def summaries(self) -> list[LevelSummary]:
        slo = Slo.model_validate(self.config.get("slo", {}))
        return [level.summary(slo) for level in self.levels]


def build_level(
    *,
    index: int,
    load_mode: Literal["concurrency", "rate"],
    offered_load: int,
    streamed: bool,
    start: float,
    end: float,
    requests: int,
    errors: dict[str, int],
    raw: LevelRaw,
    itl: LogHistogram,
    loop_lag: LogHistogram,
    token_mismatch_count: int,
    usage_missing_count: int,
    slo: Slo,
    thresholds: SaturationThresholds,
    saturated_before: list[str] | None = None,
    parts: int = 1,
    busy_seconds: float | None = None,
    shard_overlap: float | None = None,
    shard_start_spread_ms: float | None = None,
) -> LevelResult:
    """Derive every per-level figure from the raw data: used for a run and for a merge alike."""
    duration = max(end - start, 0.0)
    successes = len(raw)
    output_total = sum(raw.output_tokens)
    input_total = sum(raw.input_tokens)
    # Rate mode: from the scheduled time, so a request queued behind the in-flight cap is not good.
    lags = raw.schedule_lag_us if load_mode == "rate" else [0] * successes
    judged = slo if streamed else _without_stream_objectives(slo)
    good = sum(
        1
        for t, e, n, lag in zip(raw.ttft_us, raw.e2e_us, raw.output_tokens, lags, strict=True)
        if meets_slo(judged, t, e, n, lag)
    )

    def per_second(x: float) -> float:
        return x / duration if duration > 0 else 0.0

    schedule_p99 = (
        percentile(sorted(raw.schedule_lag_us), 99) * US_TO_MS if load_mode == "rate" and successes else None
    )
    reasons = list(saturated_before or [])
    loop_p50 = loop_lag.quantile(50) * 1e3 if loop_lag.count else None
    loop_p99 = loop_lag.quantile(99) * 1e3 if loop_lag.count else None
    if schedule_p99 is not None and schedule_p99 > thresholds.schedule_lag_p99_ms:
        reasons.append(f"schedule lag p99 {schedule_p99:.1f} ms > {thresholds.schedule_lag_p99_ms:g} ms")
    if loop_p50 is not None and loop_p50 > thresholds.loop_lag_p50_ms:
        reasons.append(f"event-loop lag p50 {loop_p50:.1f} ms > {thresholds.loop_lag_p50_ms:g} ms")
    if loop_p99 is not None and loop_p99 > thresholds.loop_lag_p99_ms:
        reasons.append(f"event-loop lag p99 {loop_p99:.1f} ms > {thresholds.loop_lag_p99_ms:g} ms")
    reasons = sorted(set(reasons))
    return LevelResult(
        index=index,
        load_mode=load_mode,
        offered_load=offered_load,
        streamed=streamed,
        start=start,
        end=end,
        duration_seconds=duration,
        requests=requests,
        successes=successes,
        errors=dict(sorted(errors.items())),
        input_tokens_total=input_total,
        output_tokens_total=output_total,
        request_throughput=per_second(successes),
        output_token_throughput=per_second(output_total),
        total_token_throughput=per_second(output_total + input_total),
        goodput_count=good,
        goodput_per_second=per_second(good),
        goodput_share=good / requests if requests else 0.0,
        token_mismatch_count=token_mismatch_count,
        usage_missing_count=usage_missing_count,
        client_saturated=bool(reasons),
        saturation_reasons=reasons,
        schedule_lag_p99_ms=schedule_p99,
        loop_lag_p50_ms=loop_p50,
        loop_lag_p99_ms=loop_p99,
        loop_lag_max_ms=loop_lag.max * 1e3 if loop_lag.count else None,
        parts=parts,
        busy_seconds=busy_seconds,
        achieved_load=achieved_load(load_mode, requests, busy_seconds, duration),
        shard_overlap=shard_overlap,
        shard_start_spread_ms=shard_start_spread_ms,
        raw=raw,
        itl=itl.to_data(),
        loop_lag=loop_lag.to_data(),
    )


def achieved_load(
    load_mode: Literal["concurrency", "rate"], requests: int, busy_seconds: float | None, duration: float
) -> float | None:
    """The offered load the window really carried, in the level's own unit: time-averaged concurrency
    (requests in flight, from their busy time) or requests sent per second. None without a window or,
    in concurrency mode, without recorded busy time."""
    if duration <= 0 or requests == 0:
        return None
    if load_mode == "rate":
        return requests / duration
    return busy_seconds / duration if busy_seconds is not None else None
