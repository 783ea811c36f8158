"""The level search, pure and stateless: from the settings and the levels already measured, the next
(level, repeat) to measure, or the knee.

The trace is rebuilt from the child LoadTests on every reconcile, so `next_step` is a function of the
*set* of finished measurements only (no order, no memory): an operator restarted at any moment asks again
and gets the same answer, and a finished (level, repeat) is never measured twice.

Verdict of a level (the repeats rule): a level is **good** when every one of its `repeats` measurements has
goodput percent >= `goodputPercent`; it is **bad** as soon as one measurement falls short (the remaining
repeats are skipped); otherwise it is incomplete and its next repeat is measured first.

Auto: measure startLevel, 2 * start, 4 * start, ... (capped at MAX_LEVEL) until a level is bad; then bisect between lo =
the highest good level below the lowest bad level hi (0 when none) and hi, until hi - lo = 1. The knee is
lo; lo = 0 means even level 1 misses: SloUnreachable. Levels: measure the given levels ascending; the
knee is the highest good level below the first bad one. Both stop after `maxLevels` distinct levels with
the best knee known then (a lower bound).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadtest_operator.api import SearchMode
from loadtest_operator.api.capacity import MAX_LEVEL


@dataclass(frozen=True, slots=True)
class SearchSettings:
    mode: SearchMode
    goodput_percent: float
    repeats: int = 1
    start_level: int = 1
    max_levels: int = 16
    levels: tuple[int, ...] = ()
    max_level: int = MAX_LEVEL

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.start_level < 1 or self.max_levels < 1 or self.max_level < 1:
            raise ValueError("repeats, startLevel, maxLevels and the level cap must be positive")
        if self.mode is SearchMode.LEVELS and not self.levels:
            raise ValueError("Levels mode needs levels")


@dataclass(frozen=True, slots=True)
class Measure:
    """Measure `level` once more: its repeat number `repeat` (0-based)."""

    level: int
    repeat: int


@dataclass(frozen=True, slots=True)
class Done:
    """The search is over. `knee` is None when no level is within SLO (SloUnreachable).

    `lower_bound`: no level above the knee was seen to miss the SLO within the limits, so the deployment
    may hold more. `converged`: the knee is exact to one step (Auto) or the levels ran out (Levels)."""

    knee: int | None
    lower_bound: bool
    converged: bool


Step = Measure | Done
# level -> goodput percent of each finished repeat of that level.
Trace = Mapping[int, Sequence[float]]


def level_verdict(goodputs: Sequence[float], settings: SearchSettings) -> bool | None:
    """True (good), False (bad) or None (incomplete): see the module docstring."""
    if any(g < settings.goodput_percent for g in goodputs):
        return False
    if len(goodputs) >= settings.repeats:
        return True
    return None


def verdicts(trace: Trace, settings: SearchSettings) -> dict[int, bool | None]:
    return {level: level_verdict(goodputs, settings) for level, goodputs in trace.items() if goodputs}


def next_step(settings: SearchSettings, trace: Trace) -> Step:
    """The next measurement, or Done. Pure, deterministic, independent of measurement order."""
    judged = verdicts(trace, settings)
    incomplete = sorted(level for level, verdict in judged.items() if verdict is None)
    if incomplete:
        return Measure(incomplete[0], len(trace[incomplete[0]]))
    good = {level for level, verdict in judged.items() if verdict}
    bad = {level for level, verdict in judged.items() if verdict is False}
    if settings.mode is SearchMode.LEVELS:
        return _next_given_level(settings, good, bad)
    return _next_auto_level(settings, good, bad)


def _next_given_level(settings: SearchSettings, good: set[int], bad: set[int]) -> Step:
    knee: int | None = None
    for level in sorted(settings.levels):
        if level in bad:
            return Done(knee=knee, lower_bound=False, converged=True)
        if level not in good:
            if len(good | bad) >= settings.max_levels:
                return Done(knee=knee, lower_bound=True, converged=False)
            return Measure(level, 0)
        knee = level
    return Done(knee=knee, lower_bound=True, converged=True)


def _next_auto_level(settings: SearchSettings, good: set[int], bad: set[int]) -> Step:
    cap = settings.max_level
    if not bad:
        if not good:
            candidate = min(settings.start_level, cap)
        else:
            top = max(good)
            if top >= cap:
                return Done(knee=top, lower_bound=True, converged=False)
            candidate = min(top * 2, cap)
        if len(good) >= settings.max_levels:
            return Done(knee=max(good), lower_bound=True, converged=False)
        return Measure(candidate, 0)
    hi = min(bad)
    lo = max((level for level in good if level < hi), default=0)
    if hi - lo <= 1:
        return Done(knee=lo or None, lower_bound=False, converged=True)
    if len(good | bad) >= settings.max_levels:
        return Done(knee=lo or None, lower_bound=True, converged=False)
    return Measure((lo + hi) // 2, 0)
