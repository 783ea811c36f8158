"""Runs, or models, ranked by one figure. Pure: runs come in with their stored levels.

A figure is read at one load level (`level`) or, without one, at the run's best level for that figure
(goodput/s: its highest; J per 1k tokens: its lowest). Latencies need a level: the best latency of a
sweep is always its lightest level, which ranks nothing. By model, each model's best run stands for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loadtest_operator.results.figures import (
    BY_KEY,
    Better,
    Metric,
    Noise,
    cost_per_million_output_tokens,
    level_figure,
    level_figures,
)

COST = Metric(
    "cost_per_1m_output_tokens", "Cost per 1M output tokens", "per 1M tok", Better.LOWER, Noise.NONE
)
# The figures the users rank by first; every figures.METRICS key is accepted too.
RANKED = (
    "goodput_per_s",
    "ttft_p90_ms",
    "output_tokens_per_s_per_gpu",
    "joules_per_1k_output_tokens",
    COST.key,
)


class LeaderboardError(ValueError):
    """A request the leaderboard cannot answer; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Entry:
    ref: str
    namespace: str
    name: str
    model: str | None
    target: str
    started_at: datetime
    levels: Mapping[int, Mapping[str, Any]]
    gpus: int | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    value: float
    level: int
    entry: Entry


@dataclass(frozen=True, slots=True)
class Board:
    metric: Metric
    by: str
    level: int | None
    ranked: list[Ranked]
    excluded: list[str]  # refs without the figure


def metric_for(key: str) -> Metric:
    if key == COST.key:
        return COST
    if key not in BY_KEY:
        raise LeaderboardError(
            f"unknown metric {key!r}: use one of {', '.join(RANKED)} (or any of {', '.join(BY_KEY)})"
        )
    return BY_KEY[key]


def rank(
    entries: Sequence[Entry],
    metric_key: str,
    *,
    level: int | None = None,
    by: str = "run",
    price_per_gpu_hour: float | None = None,
) -> Board:
    metric = metric_for(metric_key)
    if by not in ("run", "model"):
        raise LeaderboardError(f"by={by!r}: use run or model")
    if metric.noise is Noise.DISTRIBUTION and level is None:
        raise LeaderboardError(
            f"{metric.key} needs a level (e.g. level=8): a latency is only comparable at one load"
        )
    if metric is COST and (price_per_gpu_hour is None or price_per_gpu_hour <= 0):
        raise LeaderboardError(
            f"{COST.key} needs pricePerGpuHour (e.g. pricePerGpuHour=2.50): the store holds no prices"
        )
    scored: list[tuple[float, int, Entry]] = []
    excluded = []
    for entry in entries:
        best = _score(entry, metric, level, price_per_gpu_hour)
        if best is None:
            excluded.append(entry.ref)
        else:
            scored.append((best[0], best[1], entry))
    sign = 1.0 if metric.better is Better.LOWER else -1.0
    # Ties: the newer run first, then by ref, so the order never depends on the store's row order.
    scored.sort(key=lambda s: (sign * s[0], -s[2].started_at.timestamp(), s[2].ref))
    if by == "model":
        seen: set[str | None] = set()
        kept = []
        for item in scored:
            if item[2].model not in seen:
                seen.add(item[2].model)
                kept.append(item)
        scored = kept
    ranked = [Ranked(i + 1, value, lv, entry) for i, (value, lv, entry) in enumerate(scored)]
    return Board(metric, by, level, ranked, excluded)


def _score(entry: Entry, metric: Metric, level: int | None, price: float | None) -> tuple[float, int] | None:
    candidates = []
    for lv, row in entry.levels.items():
        if level is not None and lv != level:
            continue
        if metric is COST:
            assert price is not None
            figures = level_figures(row, entry.gpus)
            value = cost_per_million_output_tokens(
                price, figures["gpu_count"], figures["output_tokens_per_s"]
            )
        else:
            value = level_figure(row, metric.key, entry.gpus)
        if value is not None:
            candidates.append((value, lv))
    if not candidates:
        return None
    pick = min if metric.better is Better.LOWER else max
    return pick(candidates, key=lambda c: (c[0], -c[1]) if metric.better is Better.LOWER else (c[0], c[1]))


def as_json(board: Board, limit: int | None = None) -> dict[str, Any]:
    """The board as the API answers it: its first `limit` places (all without one)."""
    return {
        "metric": board.metric.key,
        "unit": board.metric.unit,
        "better": board.metric.better.value,
        "by": board.by,
        "level": board.level,
        "items": [
            {
                "rank": r.rank,
                "value": r.value,
                "level": r.level,
                "run": r.entry.ref,
                "namespace": r.entry.namespace,
                "name": r.entry.name,
                "model": r.entry.model,
                "target": r.entry.target,
                "startedAt": r.entry.started_at.isoformat(),
            }
            for r in board.ranked[:limit]
        ],
        "excluded": board.excluded,
    }
