"""Exact merging of shard and worker results: concatenate raw data, add histograms.

Percentiles are never averaged: every figure of a merged level is recomputed
from the concatenated per-request values (and the summed ITL histogram), over
the merged window [min start, max end].
"""

from __future__ import annotations

from collections.abc import Sequence

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.result import LevelRaw, LevelResult, RunResult, build_level


def merge_results(results: Sequence[RunResult]) -> RunResult:
    if not results:
        raise ValueError("merge_results needs at least one result")
    first = results[0]
    level_counts = {len(r.levels) for r in results}
    if len(level_counts) != 1:
        raise ValueError(f"results have different numbers of levels: {sorted(level_counts)}")
    models = {r.model for r in results}
    if len(models) != 1:
        raise ValueError(f"results are for different models: {sorted(models)}")
    slo = Slo.model_validate(first.config.get("slo", {}))
    thresholds = SaturationThresholds.model_validate(first.config.get("saturation", {}))
    levels = [merge_levels([r.levels[i] for r in results], slo, thresholds) for i in range(len(first.levels))]
    config = {**first.config, "shard_index": 0, "shard_count": 1}
    warnings = sorted({w for r in results for w in r.warnings})
    return RunResult(
        model=first.model, config=config, levels=levels, calibration=first.calibration, warnings=warnings
    )


def merge_levels(parts: Sequence[LevelResult], slo: Slo, thresholds: SaturationThresholds) -> LevelResult:
    first = parts[0]
    if any(p.index != first.index or p.load_mode != first.load_mode for p in parts):
        raise ValueError("can only merge the same level of the same kind of run")
    # A shard whose share of a level was zero ran nothing; its timestamps say nothing.
    active = [p for p in parts if p.requests > 0] or list(parts)
    raw = LevelRaw()
    itl = LogHistogram(first.itl.relative_error)
    loop_lag = LogHistogram(first.loop_lag.relative_error)
    errors: dict[str, int] = {}
    for part in parts:
        raw.extend(part.raw)
        itl.merge(LogHistogram.from_data(part.itl))
        loop_lag.merge(LogHistogram.from_data(part.loop_lag))
        for kind, n in part.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    overlap, spread = alignment(active)
    busy = [p.busy_seconds for p in parts if p.requests > 0]
    return build_level(
        index=first.index,
        load_mode=first.load_mode,
        offered_load=sum(p.offered_load for p in parts),
        streamed=first.streamed,
        start=min(p.start for p in active),
        end=max(p.end for p in active),
        requests=sum(p.requests for p in parts),
        errors=errors,
        raw=raw,
        itl=itl,
        loop_lag=loop_lag,
        token_mismatch_count=sum(p.token_mismatch_count for p in parts),
        usage_missing_count=sum(p.usage_missing_count for p in parts),
        slo=slo,
        thresholds=thresholds,
        # A part that was client-bound taints the merged figure: keep its reasons.
        saturated_before=[r for p in parts for r in p.saturation_reasons],
        parts=sum(p.parts for p in parts),
        busy_seconds=None if None in busy else sum(b for b in busy if b is not None),
        shard_overlap=overlap,
        shard_start_spread_ms=spread,
    )


def alignment(active: Sequence[LevelResult]) -> tuple[float | None, float | None]:
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
