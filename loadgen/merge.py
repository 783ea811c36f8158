"""Merging shard and worker results by adding their parts: counts, histogram buckets, SLO tallies.

Percentiles are never averaged: every figure of a merged level is recomputed from the summed parts
(loadgen/result.py `finish_level`), over the merged window [min start, max end]. Parts are folded in one
at a time (`RunMerger.add`), so a merge holds one part and the sum: memory in buckets, not in requests.
The per-request raw values are kept (and the figures exact) while every part carries them and the run
holds at most RAW_LIMIT successful requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.result import (
    RAW_LIMIT,
    Counts,
    Digest,
    LevelRaw,
    LevelResult,
    RunResult,
    SloTally,
    finish_level,
)

# The most buckets a merged result holds (all its histograms): past it, every histogram is coarsened
# once (gamma squared), as a shard's result is for its ConfigMap (loadgen/compact.py).
MAX_MERGED_BUCKETS = 1 << 19


class Span(Protocol):
    """What the alignment of parts needs of each (a LevelResult, or what a merge keeps of one)."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def duration_seconds(self) -> float: ...
    @property
    def shard_overlap(self) -> float | None: ...
    @property
    def shard_start_spread_ms(self) -> float | None: ...


@dataclass(frozen=True)
class _Span:
    start: float
    end: float
    duration_seconds: float
    shard_overlap: float | None
    shard_start_spread_ms: float | None
    requests: int
    busy_seconds: float | None


def merge_results(results: Iterable[RunResult], *, raw_limit: int | None = RAW_LIMIT) -> RunResult:
    """The merge of `results` (shards, or one shard's workers). `raw_limit`: keep the raw values while the
    merged run has at most this many successes (None: always, as a shard merging its own workers does)."""
    merger = RunMerger(raw_limit=raw_limit)
    for result in results:
        merger.add(result)
    return merger.result()


class RunMerger:
    """Folds results in one at a time; ValueError when one does not belong with the others."""

    def __init__(self, *, raw_limit: int | None = RAW_LIMIT, max_buckets: int = MAX_MERGED_BUCKETS) -> None:
        self.raw_limit = raw_limit
        self.max_buckets = max_buckets
        self._first: RunResult | None = None
        self._levels: list[_LevelSum] = []
        self._warnings: set[str] = set()
        self._raw_count = 0
        self._keep_raw = True

    @property
    def keeps_raw(self) -> bool:
        """Whether the raw values of the results still to come are of use (else read them without)."""
        return self._keep_raw

    def add(self, result: RunResult) -> None:
        first = self._first
        if first is None:
            first = self._first = result.model_copy(update={"levels": []})
            self._levels = [_LevelSum(level) for level in result.levels]
        elif len(result.levels) != len(self._levels):
            raise ValueError(
                f"results have different numbers of levels: {sorted({len(self._levels), len(result.levels)})}"
            )
        elif result.model != first.model:
            raise ValueError(f"results are for different models: {sorted({first.model, result.model})}")
        if self._keep_raw:
            self._raw_count += sum(level.successes for level in result.levels)
            if not all(level.exact for level in result.levels) or (
                self.raw_limit is not None and self._raw_count > self.raw_limit
            ):
                self._keep_raw = False
                for total in self._levels:
                    total.raw = None
        for total, level in zip(self._levels, result.levels, strict=True):
            total.add(level)
        self._warnings.update(result.warnings)
        while sum(total.buckets() for total in self._levels) > self.max_buckets:
            for total in self._levels:
                total.coarsen()

    def result(self) -> RunResult:
        first = self._first
        if first is None:
            raise ValueError("merge_results needs at least one result")
        slo = Slo.model_validate(first.config.get("slo", {}))
        thresholds = SaturationThresholds.model_validate(first.config.get("saturation", {}))
        config = {**first.config, "shard_index": 0, "shard_count": 1}
        levels = [total.result(slo, thresholds) for total in self._levels]
        for level in levels:
            level.prime()  # here, in the merge's thread, not where the status is built
        return RunResult(
            model=first.model,
            config=config,
            levels=levels,
            calibration=first.calibration,
            warnings=sorted(self._warnings),
        )


class _LevelSum:
    """One level's parts added up so far."""

    def __init__(self, first: LevelResult) -> None:
        self.index, self.load_mode, self.streamed = first.index, first.load_mode, first.streamed
        self.offered_load = self.requests = self.successes = 0
        self.input_tokens = self.output_tokens = self.goodput = self.mismatch = self.usage_missing = 0
        self.parts = 0
        self.errors: dict[str, int] = {}
        self.spans: list[_Span] = []
        self.reasons: list[str] = []
        self.histograms: dict[str, LogHistogram] = {}
        self.turn_ttft: list[LogHistogram] = []
        self.tallies: dict[str, SloTally] = {}
        self.loop_lag = LogHistogram(first.loop_lag.relative_error)
        self.raw: LevelRaw | None = LevelRaw()

    def add(self, part: LevelResult) -> None:
        if part.index != self.index or part.load_mode != self.load_mode:
            raise ValueError("can only merge the same level of the same kind of run")
        self.offered_load += part.offered_load
        self.requests += part.requests
        self.successes += part.successes
        self.input_tokens += part.input_tokens_total
        self.output_tokens += part.output_tokens_total
        self.goodput += part.goodput_count
        self.mismatch += part.token_mismatch_count
        self.usage_missing += part.usage_missing_count
        self.parts += part.parts
        for kind, n in part.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        self.spans.append(
            _Span(part.start, part.end, part.duration_seconds, part.shard_overlap, part.shard_start_spread_ms,
                  part.requests, part.busy_seconds)
        )  # fmt: skip
        # A part that was client-bound taints the merged figure: keep its reasons.
        self.reasons.extend(part.saturation_reasons)
        for key, data in part.histograms.items():
            hist = LogHistogram.from_data(data)
            mine = self.histograms.get(key)
            self.histograms[key] = hist if mine is None else mine.merged_with(hist)
        for i, data in enumerate(part.turn_ttft):
            hist = LogHistogram.from_data(data)
            if i < len(self.turn_ttft):
                self.turn_ttft[i] = self.turn_ttft[i].merged_with(hist)
            else:
                self.turn_ttft.append(hist)
        for key, tally in part.slo_tallies.items():
            self.tallies[key] = self.tallies[key].merged(tally) if key in self.tallies else tally
        self.loop_lag = self.loop_lag.merged_with(LogHistogram.from_data(part.loop_lag))
        if self.raw is not None:
            self.raw.extend(part.raw)

    def buckets(self) -> int:
        hists = [*self.histograms.values(), *self.turn_ttft, self.loop_lag]
        return sum(len(h.buckets) for h in hists)

    def coarsen(self) -> None:
        self.histograms = {k: h.coarsened() for k, h in self.histograms.items()}
        self.turn_ttft = [h.coarsened() for h in self.turn_ttft]

    def result(self, slo: Slo, thresholds: SaturationThresholds) -> LevelResult:
        del slo  # the tallies were taken against it on the shards
        # A shard whose share of a level was zero ran nothing; its timestamps say nothing.
        active = [s for s in self.spans if s.requests > 0] or self.spans
        overlap, spread = alignment(active)
        busy = [s.busy_seconds for s in self.spans if s.requests > 0]
        counts = Counts(
            index=self.index,
            load_mode=self.load_mode,
            offered_load=self.offered_load,
            streamed=self.streamed,
            start=min(s.start for s in active),
            end=max(s.end for s in active),
            requests=self.requests,
            successes=self.successes,
            errors=self.errors,
            input_tokens_total=self.input_tokens,
            output_tokens_total=self.output_tokens,
            goodput_count=self.goodput,
            token_mismatch_count=self.mismatch,
            usage_missing_count=self.usage_missing,
            parts=self.parts,
            busy_seconds=None if None in busy else sum(b for b in busy if b is not None),
            shard_overlap=overlap,
            shard_start_spread_ms=spread,
            saturated_before=self.reasons,
        )
        digest = Digest(self.histograms, self.turn_ttft, self.tallies)
        return finish_level(counts, digest, self.raw or LevelRaw(), self.loop_lag, thresholds)


def merge_levels(parts: Sequence[LevelResult], slo: Slo, thresholds: SaturationThresholds) -> LevelResult:
    """One level of several parts (raw values kept whatever their number)."""
    total = _LevelSum(parts[0])
    for part in parts:
        if not part.exact:
            total.raw = None
        total.add(part)
    return total.result(slo, thresholds)


def alignment(active: Sequence[Span]) -> tuple[float | None, float | None]:
    """(overlap, start spread in ms) of the parts that ran: the share of the merged window [earliest
    start, latest end] in which every part was running, and latest start minus earliest start.

    A part that is itself a merge (a shard's workers) stands for its own parts: its latest start is its
    start plus its spread, its common stretch lasts its overlap times its window, so merging merges
    yields what merging every leaf at once would. (None, None) for a single part.
    """
    if len(active) < 2:
        only = active[0] if active else None
        return (only.shard_overlap, only.shard_start_spread_ms) if only else (None, None)
    starts, common_starts, common_ends = [], [], []
    for part in active:
        latest_start = part.start + (part.shard_start_spread_ms or 0.0) / 1e3
        common = part.shard_overlap * part.duration_seconds if part.shard_overlap is not None else None
        starts.append(part.start)
        common_starts.append(latest_start)
        common_ends.append(latest_start + common if common is not None else part.end)
    window = max(p.end for p in active) - min(starts)
    spread_ms = (max(common_starts) - min(starts)) * 1e3
    if window <= 0:
        return None, spread_ms
    return max(0.0, min(common_ends) - max(common_starts)) / window, spread_ms
