"""Two or more runs compared level by level: levels matched by their load level, every figure of
figures.METRICS with its absolute and percent change against the first run (the baseline), and a verdict.

A change is `better` or `worse` only when it is both larger than the noise (noise.py: p < alpha) and at
least `min_change` percent of the baseline (MIN_CHANGE_PERCENT unless the request says otherwise): two
runs of a steady server differ "significantly" by fractions of a percent, which matters to no one. A
percentile is tested through its distribution's mean, so both the mean and the figure shown must move
that much, the same way. Otherwise: `too small to matter` (beyond the noise, below the minimum) or
`within noise`. Pure: runs come in as plain data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest_operator.results import noise
from loadtest_operator.results.figures import BY_KEY, METRICS, Better, Metric, Noise, level_figures


@dataclass(frozen=True, slots=True)
class RunLevels:
    """One run as compare sees it: who it is, and its stored levels (level_results columns)."""

    ref: str  # namespace/name:runId
    mode: str
    levels: Mapping[int, Mapping[str, Any]]
    gpus: int | None = None  # the run's target GPUs, for levels without GPU metrics


@dataclass(frozen=True, slots=True)
class Change:
    run: str
    value: float | None
    absolute: float | None
    percent: float | None
    test: str | None
    p_value: float | None
    significant: bool | None
    verdict: str  # better, worse, too small to matter, within noise, unchanged, untested, missing
    basis: str


@dataclass(frozen=True, slots=True)
class MetricRow:
    metric: Metric
    baseline: float | None
    changes: list[Change]


@dataclass(frozen=True, slots=True)
class LevelComparison:
    level: int
    rows: list[MetricRow]


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str
    runs: list[str]
    levels: list[LevelComparison]
    alpha: float
    warnings: list[str] = field(default_factory=list)
    min_change: float = 0.0  # percent of the baseline


# The smallest change, in percent of the baseline, that compare calls better or worse by default.
MIN_CHANGE_PERCENT = 5.0
BETTER, WORSE, TOO_SMALL, WITHIN_NOISE = "better", "worse", "too small to matter", "within noise"


def compare(
    runs: Sequence[RunLevels],
    metrics: Sequence[str] | None = None,
    alpha: float = noise.ALPHA,
    min_change: float = MIN_CHANGE_PERCENT,
) -> Comparison:
    if len(runs) < 2:
        raise ValueError("compare needs two or more runs")
    if min_change < 0:
        raise ValueError("min_change is a percentage, 0 or more")
    chosen = [BY_KEY[m] for m in metrics] if metrics else list(METRICS)
    base, others = runs[0], runs[1:]
    warnings = []
    for other in others:
        if other.mode != base.mode:
            warnings.append(
                f"{other.ref} ran in {other.mode} mode and {base.ref} in {base.mode}: their levels count "
                "different things (concurrency vs requests per second) and are matched by number only"
            )
    all_levels = sorted({lv for run in runs for lv in run.levels})
    for run in runs:
        missing = [lv for lv in all_levels if lv not in run.levels]
        if missing:
            warnings.append(f"{run.ref} has no results for level(s) {', '.join(map(str, missing))}")
    compared = []
    for level in all_levels:
        base_row = base.levels.get(level)
        base_figures = level_figures(base_row, base.gpus) if base_row is not None else {}
        rows = []
        for metric in chosen:
            changes = []
            for other in others:
                row = other.levels.get(level)
                figures = level_figures(row, other.gpus) if row is not None else {}
                changes.append(
                    _change(
                        metric,
                        other.ref,
                        base_row,
                        row,
                        base_figures.get(metric.key),
                        figures.get(metric.key),
                        alpha,
                        min_change,
                    )
                )
            rows.append(MetricRow(metric, base_figures.get(metric.key), changes))
        compared.append(LevelComparison(level, rows))
    return Comparison(base.ref, [r.ref for r in runs], compared, alpha, warnings, min_change)


def _change(
    metric: Metric,
    ref: str,
    base_row: Mapping[str, Any] | None,
    row: Mapping[str, Any] | None,
    before: float | None,
    after: float | None,
    alpha: float,
    min_change: float = MIN_CHANGE_PERCENT,
) -> Change:
    if before is None or after is None or base_row is None or row is None:
        return Change(ref, after, None, None, None, None, None, "missing", "a run has no figure here")
    absolute = after - before
    percent = _percent(before, after)
    verdict, basis = _test(metric, base_row, row, alpha)
    if verdict.significant is None:
        label = "unchanged" if absolute == 0 else "untested"
    elif not verdict.significant:
        label = WITHIN_NOISE
    else:
        label, size = _practical(metric, base_row, row, absolute, percent, min_change)
        basis += "; " + size
    return Change(
        ref,
        after,
        absolute,
        percent,
        verdict.test,
        verdict.p_value,
        verdict.significant,
        label,
        basis + "; " + verdict.reason,
    )


def _percent(before: float | None, after: float | None) -> float | None:
    """The change in percent of `before`; None without a nonzero baseline."""
    if before is None or after is None or not before:
        return None
    return 100.0 * (after - before) / before


def _practical(
    metric: Metric,
    base_row: Mapping[str, Any],
    row: Mapping[str, Any],
    absolute: float,
    percent: float | None,
    min_change: float,
) -> tuple[str, str]:
    """The verdict of a change beyond the noise: is it large enough to matter? With its reason. The tested
    quantity (a percentile's distribution mean) and the figure itself must both move by `min_change`
    percent or more, the same way; a change from a zero baseline has no relative size and counts."""
    if absolute == 0:
        return TOO_SMALL, "the figure itself did not change"
    moves = [("the figure", absolute, percent)]
    if metric.noise is Noise.DISTRIBUTION and metric.family and not metric.key.endswith("_mean_ms"):
        key = f"{metric.family}_mean_ms"
        a, b = base_row.get(key), row.get(key)
        if isinstance(a, int | float) and isinstance(b, int | float):
            moves.append(("its mean", b - a, _percent(a, b)))
    if any((delta < 0) != (absolute < 0) for _, delta, _ in moves if delta):
        return WITHIN_NOISE, "the mean the test is on moved the other way"
    small = [f"{what} {pct:+.1f} %" for what, _, pct in moves if pct is not None and abs(pct) < min_change]
    if small:
        return TOO_SMALL, f"{', '.join(small)}: below the minimum practical change of {min_change:g} %"
    improved = (absolute < 0) == (metric.better is Better.LOWER)
    return (BETTER if improved else WORSE), f"at least the minimum practical change of {min_change:g} %"


def _test(
    metric: Metric, a: Mapping[str, Any], b: Mapping[str, Any], alpha: float
) -> tuple[noise.Verdict, str]:
    if metric.noise is Noise.DISTRIBUTION and metric.family:
        f = metric.family
        verdict = noise.welch(_moments(a, f), _moments(b, f), alpha)
        basis = (
            f"{f} mean"
            if metric.key.endswith("_mean_ms")
            else f"{f} distribution's mean (not the percentile itself)"
        )
        return verdict, basis
    if metric.noise is Noise.PROPORTION:
        hits = "goodput_count" if metric.key == "goodput_percent" else "errors"
        pa, pb = _proportion(a, hits), _proportion(b, hits)
        if pa is None or pb is None:
            return noise.Verdict(noise.TWO_PROPORTIONS, None, None, f"no {hits} stored"), hits
        return noise.two_proportions(pa, pb, alpha), f"{hits} of requests"
    return noise.Verdict(None, None, None, "one figure per level and run: repeat the runs to test it"), "none"


def _moments(row: Mapping[str, Any], family: str) -> noise.StoredMoments:
    return noise.StoredMoments(
        row.get(f"{family}_count"), row.get(f"{family}_mean_ms"), row.get(f"{family}_stddev_ms")
    )


def _proportion(row: Mapping[str, Any], hits: str) -> noise.Proportion | None:
    count, trials = row.get(hits), row.get("requests")
    if count is None or not trials:
        return None
    return noise.Proportion(int(count), int(trials))


def as_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "baseline": comparison.baseline,
        "runs": comparison.runs,
        "alpha": comparison.alpha,
        "minChangePercent": comparison.min_change,
        "warnings": comparison.warnings,
        "levels": [
            {
                "level": lv.level,
                "metrics": [
                    {
                        "metric": row.metric.key,
                        "title": row.metric.title,
                        "unit": row.metric.unit,
                        "better": row.metric.better.value,
                        "baseline": row.baseline,
                        "changes": [
                            {
                                "run": c.run,
                                "value": c.value,
                                "absolute": c.absolute,
                                "percent": c.percent,
                                "test": c.test,
                                "pValue": c.p_value,
                                "significant": c.significant,
                                "verdict": c.verdict,
                                "basis": c.basis,
                            }
                            for c in row.changes
                        ],
                    }
                    for row in lv.rows
                ],
            }
            for lv in comparison.levels
        ],
    }
