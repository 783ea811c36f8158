"""What a run hands back: per-level results whose parts merge by adding (histograms, counts, tallies).

Every figure of a level is drawn from additive parts: counters (requests, tokens, goodput), log
histograms of each latency (loadgen/histogram.py: within 0.5 % of the exact percentile) and, per SLO
objective, a tally that decides the SLO verdict exactly. So a merge of any number of shards costs memory
in buckets, not in requests. A level also keeps its per-request raw values while a run is small
(RAW_LIMIT successful requests): its percentiles are then exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import HistogramData, LogHistogram
from loadgen.stats import PERCENTILES, MetricStats, describe, empty_stats, exact_percentile

US = 1e-6
US_TO_MS = 1e-3
# A result carries (and a merge keeps) the per-request raw values while it has at most this many
# successful requests in all levels: its percentiles are then exact; beyond, they come from histograms.
RAW_LIMIT = 20_000
# The latency histograms of a level (`LevelResult.histograms`): from the send, and in Rate mode from the
# scheduled time too. TTFT, TPOT and ITL stay empty when not streamed.
HISTOGRAM_KEYS = ("ttft", "tpot", "itl", "e2e")
RATE_HISTOGRAM_KEYS = ("ttft_from_schedule", "e2e_from_schedule", "schedule_lag")


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


class SloTally(BaseModel):
    """What decides `percentile(values, q) * 1e-3 <= threshold_ms` exactly, and adds across shards: how
    many values there are, how many are within, the largest within and the smallest over. The exact
    percentile interpolates between the samples of ranks floor(p) and floor(p) + 1 (p = (n - 1) q / 100):
    with more than floor(p) + 1 values within, both are within; with at most floor(p), neither; with
    exactly floor(p) + 1 they are the largest within and the smallest over, both known."""

    threshold_ms: float
    count: int = 0
    within: int = 0
    max_within_us: float | None = None
    min_over_us: float | None = None

    @classmethod
    def of(cls, values_us: Iterable[float], threshold_ms: float) -> SloTally:
        tally = cls(threshold_ms=threshold_ms)
        high_within, low_over = -math.inf, math.inf
        for v in values_us:
            tally.count += 1
            if v * US_TO_MS > threshold_ms:
                low_over = min(low_over, v)
            else:
                tally.within += 1
                high_within = max(high_within, v)
        tally.max_within_us = high_within if tally.within else None
        tally.min_over_us = low_over if tally.count > tally.within else None
        return tally

    def merged(self, other: SloTally) -> SloTally:
        if other.threshold_ms != self.threshold_ms:
            raise ValueError(
                f"SLO tallies of different thresholds: {self.threshold_ms}, {other.threshold_ms}"
            )
        return SloTally(
            threshold_ms=self.threshold_ms,
            count=self.count + other.count,
            within=self.within + other.within,
            max_within_us=_opt(max, self.max_within_us, other.max_within_us),
            min_over_us=_opt(min, self.min_over_us, other.min_over_us),
        )

    def holds(self, q: float) -> bool | None:
        """Whether the q-th percentile is within the threshold; None without values (not judged)."""
        n = self.count
        if n == 0:
            return None
        position = (n - 1) * q / 100.0
        low = math.floor(position)
        high = min(low + 1, n - 1)
        if self.within >= high + 1:
            return True
        if self.within <= low or self.max_within_us is None or self.min_over_us is None:
            return False
        a, b = self.max_within_us, self.min_over_us
        return not ((a + (b - a) * (position - low)) * US_TO_MS > self.threshold_ms)


def _opt(pick: Any, a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return float(pick(values)) if values else None


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
        description="answers of the wrong length: not as long as the request was pinned to, or "
        "(streamed) with a usage.completion_tokens below the content chunks seen (docs/metrics.md)"
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
    raw: LevelRaw = Field(
        default_factory=LevelRaw,
        description="per-request values while the run is small (RAW_LIMIT); empty beyond: the figures then "
        "come from `histograms`",
    )
    histograms: dict[str, HistogramData] = Field(
        default_factory=dict,
        description="the level's latency distributions, mergeable by adding buckets: ttft, tpot, itl, e2e "
        "(from the send), and in Rate mode ttft_from_schedule, e2e_from_schedule, schedule_lag",
    )
    turn_ttft: list[HistogramData] = Field(
        default_factory=list,
        description="multi-turn runs: TTFT of each turn's requests (index 0: first turns)",
    )
    slo_tallies: dict[str, SloTally] = Field(
        default_factory=dict,
        description="per thresholded objective (headline ttft, tpot, e2e): what decides the SLO verdict exactly",
    )
    loop_lag: HistogramData

    @model_validator(mode="before")
    @classmethod
    def _itl_of_older_results(cls, data: Any) -> Any:
        """Results before the histograms had `itl` beside `raw`: it is histograms["itl"] now."""
        if isinstance(data, dict) and "itl" in data:
            data = dict(data)
            itl = data.pop("itl")
            data["histograms"] = {"itl": itl, **(data.get("histograms") or {})}
        return data

    @property
    def itl(self) -> HistogramData:
        return self.histograms.get("itl") or HistogramData()

    @property
    def exact(self) -> bool:
        """Whether every successful request's raw values are here (the figures are then exact)."""
        return len(self.raw) == self.successes

    def histogram(self, key: str) -> LogHistogram:
        data = self.histograms.get(key)
        return LogHistogram.from_data(data) if data is not None else LogHistogram()

    # The summary without a verdict, kept by `prime` (a merge, in its worker thread) so that building the
    # status of 64 levels on the operator's event loop costs no percentile walks there.
    _primed: LevelSummary | None = PrivateAttr(default=None)

    def prime(self) -> None:
        self._primed = self._exact_summary() if self.exact else self._histogram_summary()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> LevelResult:
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._primed = None  # the figures may differ
        return copy

    def __eq__(self, other: object) -> bool:
        """By the figures alone: a primed level equals the same level unprimed."""
        return isinstance(other, LevelResult) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, as every pydantic model

    def summary(self, slo: Slo | None = None) -> LevelSummary:
        if self._primed is not None:
            summary = self._primed.model_copy(deep=True)
        else:
            summary = self._exact_summary() if self.exact else self._histogram_summary()
        if slo is not None:
            summary.slo_met = self.slo_verdict(slo) if self.successes else False
        return summary

    def slo_verdict(self, slo: Slo) -> bool:
        """Judged on the headline latency (from the schedule in Rate mode), like goodput: from the tallies
        (exact) when they were taken against this SLO, else from the values (exact, or the histograms)."""
        judged = slo if self.streamed else _without_stream_objectives(slo)
        for key, threshold in (("ttft", judged.ttft_ms), ("tpot", judged.tpot_ms), ("e2e", judged.e2e_ms)):
            if threshold is None:
                continue
            tally = self.slo_tallies.get(key)
            if tally is not None and tally.threshold_ms == threshold:
                if tally.holds(slo.percentile) is False:
                    return False
                continue
            value = self._headline_percentile_us(key, slo.percentile)
            if value is not None and value * US_TO_MS > threshold:
                return False
        return True

    def _headline_percentile_us(self, key: str, q: float) -> float | None:
        rate = self.load_mode == "rate"
        if not self.exact:
            name = f"{key}_from_schedule" if rate and key != "tpot" else key
            hist = self.histogram(name)
            return hist.percentile(q) * 1e6 if hist.count else None
        raw = self.raw
        lags = raw.schedule_lag_us if rate else [0] * len(raw)
        values: list[float] = (
            _tpots(raw)
            if key == "tpot"
            else [v + lag for v, lag in zip(raw.ttft_us if key == "ttft" else raw.e2e_us, lags, strict=True)]
        )
        return exact_percentile(values, q) if values else None

    def _exact_summary(self) -> LevelSummary:
        raw = self.raw
        tpots = _tpots(raw) if self.streamed else []
        # Without a stream the first content comes with the whole answer: there is no TTFT to measure
        # (nor TPOT or ITL), and the figures stay empty rather than equal to E2E.
        ttft_us = raw.ttft_us if self.streamed else []
        summary = LevelSummary(
            ttft=describe(ttft_us, US_TO_MS),
            tpot=describe(tpots, US_TO_MS),
            itl=histogram_stats(self.histogram("itl")),
            e2e=describe(raw.e2e_us, US_TO_MS),
        )
        if self.load_mode == "rate":
            lags = raw.schedule_lag_us
            summary.ttft_from_schedule = describe(
                [t + lag for t, lag in zip(ttft_us, lags, strict=False)], US_TO_MS
            )
            summary.e2e_from_schedule = describe(
                [e + lag for e, lag in zip(raw.e2e_us, lags, strict=True)], US_TO_MS
            )
            summary.schedule_lag = describe(lags, US_TO_MS)
        if ttft_us and any(raw.turn):
            summary.ttft_by_turn = ttft_by_turn(ttft_us, raw.turn)
        return summary

    def _histogram_summary(self) -> LevelSummary:
        streamed = self.streamed
        summary = LevelSummary(
            ttft=histogram_stats(self.histogram("ttft")) if streamed else empty_stats(),
            tpot=histogram_stats(self.histogram("tpot")) if streamed else empty_stats(),
            itl=histogram_stats(self.histogram("itl")),
            e2e=histogram_stats(self.histogram("e2e")),
        )
        if self.load_mode == "rate":
            summary.ttft_from_schedule = (
                histogram_stats(self.histogram("ttft_from_schedule")) if streamed else empty_stats()
            )
            summary.e2e_from_schedule = histogram_stats(self.histogram("e2e_from_schedule"))
            summary.schedule_lag = histogram_stats(self.histogram("schedule_lag"))
        if streamed and len(self.turn_ttft) > 1:
            summary.ttft_by_turn = [histogram_stats(LogHistogram.from_data(h)) for h in self.turn_ttft]
        return summary

    def ttft_by_turn_stats(self, max_turns: int) -> list[MetricStats]:
        """TTFT per turn, turns from `max_turns` on together in the last entry."""
        if self.exact:
            turns = [min(t, max_turns - 1) for t in self.raw.turn]
            return ttft_by_turn(self.raw.ttft_us, turns)
        kept = [LogHistogram.from_data(h) for h in self.turn_ttft[:max_turns]]
        for later in self.turn_ttft[max_turns:]:
            kept[-1] = kept[-1].merged_with(LogHistogram.from_data(later))
        return [histogram_stats(h) for h in kept]


def _tpots(raw: LevelRaw) -> list[float]:
    tpots: list[float] = []
    for t, e, n in zip(raw.ttft_us, raw.e2e_us, raw.output_tokens, strict=True):
        value = tpot_us(t, e, n)
        if value is not None:
            tpots.append(value)
    return tpots


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


def histogram_stats(hist: LogHistogram) -> MetricStats:
    """Percentiles by the exact rule over the buckets (within the histogram's relative error), the
    mean, min and max exact."""
    if hist.count == 0:
        return empty_stats()
    ms = 1e3
    p50, p90, p95, p99, p999 = (v * ms for v in hist.percentiles(PERCENTILES))
    stddev = hist.stddev()
    return MetricStats(
        count=hist.count,
        stddev=None if stddev is None else stddev * ms,
        mean=hist.mean * ms,
        min=hist.min * ms,
        max=hist.max * ms,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        p99_9=p999,
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


@dataclass
class Digest:
    """A level's additive parts: latency histograms, per-turn TTFT and SLO tallies (see LevelResult)."""

    histograms: dict[str, LogHistogram]
    turn_ttft: list[LogHistogram]
    slo_tallies: dict[str, SloTally]


def digest_raw(raw: LevelRaw, itl: LogHistogram, *, load_mode: str, streamed: bool, slo: Slo) -> Digest:
    """The additive parts of a level, from its raw values (on the shard, once per level)."""

    def hist(values_us: Iterable[float]) -> LogHistogram:
        h = LogHistogram()
        h.add_counts_us(values_us)
        return h

    ttft_us: Sequence[int] = raw.ttft_us if streamed else []
    tpots = _tpots(raw) if streamed else []
    histograms = {"ttft": hist(ttft_us), "tpot": hist(tpots), "itl": itl, "e2e": hist(raw.e2e_us)}
    ttft_headline: Sequence[float] = ttft_us
    e2e_headline: Sequence[float] = raw.e2e_us
    if load_mode == "rate":
        lags = raw.schedule_lag_us
        ttft_headline = [t + lag for t, lag in zip(ttft_us, lags, strict=False)]
        e2e_headline = [e + lag for e, lag in zip(raw.e2e_us, lags, strict=True)]
        histograms |= {
            "ttft_from_schedule": hist(ttft_headline),
            "e2e_from_schedule": hist(e2e_headline),
            "schedule_lag": hist(lags),
        }
    turn_ttft: list[LogHistogram] = []
    if ttft_us and any(raw.turn):
        per_turn: list[list[int]] = [[] for _ in range(max(raw.turn) + 1)]
        for value, turn in zip(ttft_us, raw.turn, strict=True):
            per_turn[turn].append(value)
        turn_ttft = [hist(values) for values in per_turn]
    judged = slo if streamed else _without_stream_objectives(slo)
    tallies: dict[str, SloTally] = {}
    for key, threshold, values in (
        ("ttft", judged.ttft_ms, ttft_headline),
        ("tpot", judged.tpot_ms, tpots),
        ("e2e", judged.e2e_ms, e2e_headline),
    ):
        if threshold is not None and values:
            tallies[key] = SloTally.of(values, threshold)
    return Digest(histograms, turn_ttft, tallies)


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
    """A level from its raw data (a shard's, once per level): the counts and goodput per request, the
    additive parts, then every figure as a merge derives it (`finish_level`)."""
    successes = len(raw)
    # Rate mode: from the scheduled time, so a request queued behind the in-flight cap is not good.
    lags = raw.schedule_lag_us if load_mode == "rate" else [0] * successes
    judged = slo if streamed else _without_stream_objectives(slo)
    good = sum(
        1
        for t, e, n, lag in zip(raw.ttft_us, raw.e2e_us, raw.output_tokens, lags, strict=True)
        if meets_slo(judged, t, e, n, lag)
    )
    return finish_level(
        Counts(
            index=index,
            load_mode=load_mode,
            offered_load=offered_load,
            streamed=streamed,
            start=start,
            end=end,
            requests=requests,
            successes=successes,
            errors=errors,
            input_tokens_total=sum(raw.input_tokens),
            output_tokens_total=sum(raw.output_tokens),
            goodput_count=good,
            token_mismatch_count=token_mismatch_count,
            usage_missing_count=usage_missing_count,
            parts=parts,
            busy_seconds=busy_seconds,
            shard_overlap=shard_overlap,
            shard_start_spread_ms=shard_start_spread_ms,
            saturated_before=list(saturated_before or []),
        ),
        digest_raw(raw, itl, load_mode=load_mode, streamed=streamed, slo=slo),
        raw,
        loop_lag,
        thresholds,
    )


@dataclass
class Counts:
    """A level's additive counts and window (a merge adds them up)."""

    index: int
    load_mode: Literal["concurrency", "rate"]
    offered_load: int
    streamed: bool
    start: float
    end: float
    requests: int
    successes: int
    errors: dict[str, int]
    input_tokens_total: int
    output_tokens_total: int
    goodput_count: int
    token_mismatch_count: int
    usage_missing_count: int
    parts: int
    busy_seconds: float | None
    shard_overlap: float | None
    shard_start_spread_ms: float | None
    saturated_before: list[str]


def finish_level(
    counts: Counts, digest: Digest, raw: LevelRaw, loop_lag: LogHistogram, thresholds: SaturationThresholds
) -> LevelResult:
    """Every derived figure of a level from its additive parts: rates over the window, saturation."""
    c = counts
    duration = max(c.end - c.start, 0.0)

    def per_second(x: float) -> float:
        return x / duration if duration > 0 else 0.0

    schedule_p99: float | None = None
    if c.load_mode == "rate" and c.successes:
        if len(raw) == c.successes:
            schedule_p99 = exact_percentile(raw.schedule_lag_us, 99) * US_TO_MS
        else:
            schedule_p99 = digest.histograms["schedule_lag"].percentile(99) * 1e3
    reasons = list(c.saturated_before)
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
        index=c.index,
        load_mode=c.load_mode,
        offered_load=c.offered_load,
        streamed=c.streamed,
        start=c.start,
        end=c.end,
        duration_seconds=duration,
        requests=c.requests,
        successes=c.successes,
        errors=dict(sorted(c.errors.items())),
        input_tokens_total=c.input_tokens_total,
        output_tokens_total=c.output_tokens_total,
        request_throughput=per_second(c.successes),
        output_token_throughput=per_second(c.output_tokens_total),
        total_token_throughput=per_second(c.output_tokens_total + c.input_tokens_total),
        goodput_count=c.goodput_count,
        goodput_per_second=per_second(c.goodput_count),
        goodput_share=c.goodput_count / c.requests if c.requests else 0.0,
        token_mismatch_count=c.token_mismatch_count,
        usage_missing_count=c.usage_missing_count,
        client_saturated=bool(reasons),
        saturation_reasons=reasons,
        schedule_lag_p99_ms=schedule_p99,
        loop_lag_p50_ms=loop_p50,
        loop_lag_p99_ms=loop_p99,
        loop_lag_max_ms=loop_lag.max * 1e3 if loop_lag.count else None,
        parts=c.parts,
        busy_seconds=c.busy_seconds,
        achieved_load=achieved_load(c.load_mode, c.requests, c.busy_seconds, duration),
        shard_overlap=c.shard_overlap,
        shard_start_spread_ms=c.shard_start_spread_ms,
        raw=raw,
        histograms={k: h.to_data() for k, h in digest.histograms.items()},
        turn_ttft=[h.to_data() for h in digest.turn_ttft],
        slo_tallies=digest.slo_tallies,
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
