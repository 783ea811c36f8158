"""Judging and summarising merged per-level results: best level, success criteria, one-line summary."""

from collections.abc import Sequence

from loadtest_operator.api import LevelResult, SuccessCriteria
from loadtest_operator.api.conditions import LoadTestReason
from loadtest_operator.core.problems import Problem


def error_rate_percent(result: LevelResult) -> float:
    """Failed requests as a percentage of measured requests (0 when nothing was measured)."""
    if result.requests == 0:
        return 0.0
    return 100.0 * (result.requests - result.successes) / result.requests


def best_goodput_level(levels: Sequence[LevelResult]) -> int | None:
    """The level with the highest goodput per second; without an SLO (no goodput), the highest request
    rate. Ties go to the lower level: the same output for less load. None when nothing succeeded."""
    best: tuple[float, int] | None = None
    for result in sorted(levels, key=lambda r: r.level):
        score = result.goodput.per_second if result.goodput is not None else result.requests_per_second
        if score > 0 and (best is None or score > best[0]):
            best = (score, result.level)
    return None if best is None else best[1]


def evaluate_success_criteria(
    criteria: SuccessCriteria | None, levels: Sequence[LevelResult]
) -> list[Problem]:
    """Every missed criterion, each with reason CriteriaNotMet. Empty means the run passed."""
    if criteria is None:
        return []
    by_level = {r.level: r for r in levels}
    problems: list[Problem] = []
    if criteria.max_error_rate_percent is not None:
        for result in sorted(levels, key=lambda r: r.level):
            rate = error_rate_percent(result)
            if rate > criteria.max_error_rate_percent:
                problems.append(
                    Problem(
                        LoadTestReason.CRITERIA_NOT_MET,
                        f"level {result.level}: {rate:.1f}% errors, more than the "
                        f"{criteria.max_error_rate_percent}% allowed",
                        "spec.successCriteria.maxErrorRatePercent",
                    )
                )
    gated = _gated_levels(criteria, sorted(by_level))
    if criteria.min_level_within_slo is not None:
        for level in gated:
            if by_level[level].within_slo is not True:
                problems.append(
                    Problem(
                        LoadTestReason.CRITERIA_NOT_MET,
                        f"level {level} is not within SLO (required up to {criteria.min_level_within_slo})",
                        "spec.successCriteria.minLevelWithinSlo",
                    )
                )
        if criteria.min_level_within_slo not in by_level:
            problems.append(
                Problem(
                    LoadTestReason.CRITERIA_NOT_MET,
                    f"level {criteria.min_level_within_slo} has no result",
                    "spec.successCriteria.minLevelWithinSlo",
                )
            )
    if criteria.min_goodput_percent is not None:
        for level in gated:
            goodput = by_level[level].goodput
            percent = goodput.percent if goodput is not None else 0.0
            if percent < criteria.min_goodput_percent:
                problems.append(
                    Problem(
                        LoadTestReason.CRITERIA_NOT_MET,
                        f"level {level}: {percent:.1f}% of requests met the SLO, fewer than the "
                        f"{criteria.min_goodput_percent}% required",
                        "spec.successCriteria.minGoodputPercent",
                    )
                )
    return problems


def _gated_levels(criteria: SuccessCriteria, levels: list[int]) -> list[int]:
    """Levels the SLO-based criteria apply to: up to minLevelWithinSlo, else only the lowest."""
    if criteria.min_level_within_slo is not None:
        return [level for level in levels if level <= criteria.min_level_within_slo]
    return levels[:1]


def summary_line(levels: Sequence[LevelResult]) -> str:
    """One line for status.summary, e.g.
    "3 levels, 1500 requests, 0.2% errors; best goodput 12.5/s at level 16; within SLO up to level 16"."""
    if not levels:
        return "no results"
    requests = sum(r.requests for r in levels)
    failed = sum(r.requests - r.successes for r in levels)
    errors = 100.0 * failed / requests if requests else 0.0
    noun = "level" if len(levels) == 1 else "levels"
    parts = [f"{len(levels)} {noun}, {requests} requests, {errors:.1f}% errors"]
    best = best_goodput_level(levels)
    if best is not None:
        result = next(r for r in levels if r.level == best)
        if result.goodput is not None:
            parts.append(f"best goodput {result.goodput.per_second:.1f}/s at level {best}")
        else:
            parts.append(f"best throughput {result.requests_per_second:.1f} req/s at level {best}")
    judged = [r for r in sorted(levels, key=lambda r: r.level) if r.within_slo is not None]
    if judged:
        within = _highest_prefix_within_slo(judged)
        parts.append(f"within SLO up to level {within}" if within is not None else "no level within SLO")
    return "; ".join(parts)


def _highest_prefix_within_slo(levels: Sequence[LevelResult]) -> int | None:
    """The highest level such that it and every lower level are within SLO."""
    highest = None
    for result in levels:
        if result.within_slo is not True:
            break
        highest = result.level
    return highest
