"""The run's checks against vLLM's own figures, counted: `status.validation` and the ServerAgreement
condition (pure). The checks themselves are made per level in `gpu/validation.py`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from loadtest_operator.api import ConditionStatus, LevelResult, LoadTestReason
from loadtest_operator.api.validation import MAX_LISTED_FAILURES, ValidationSummary


class Agreement(NamedTuple):
    summary: ValidationSummary
    status: ConditionStatus
    reason: LoadTestReason
    message: str


def _figure(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def agreement(levels: Sequence[LevelResult], tolerance_percent: int) -> Agreement:
    checks = [(lv.level, c) for lv in levels if lv.validation for c in lv.validation.checks]
    failed = [(level, c) for level, c in checks if not c.passed]
    summary = ValidationSummary(
        tolerance_percent=tolerance_percent,
        checks=len(checks),
        failed=len(failed),
        failed_checks=[f"level {level}: {c.name.value}" for level, c in failed[:MAX_LISTED_FAILURES]] or None,
    )
    if not checks:
        return Agreement(
            summary,
            ConditionStatus.UNKNOWN,
            LoadTestReason.NO_SERVER_FIGURES,
            "no vLLM series in Prometheus for the levels' windows: nothing to check the client's figures "
            "against (see GpuMetricsAvailable)",
        )
    if not failed:
        return Agreement(
            summary,
            ConditionStatus.TRUE,
            LoadTestReason.CHECKS_PASSED,
            f"all {len(checks)} checks agree with vLLM's metrics within {tolerance_percent}%",
        )
    shown = "; ".join(
        f"level {level} {c.name.value}: client {_figure(c.client)}, vLLM {_figure(c.server)}"
        + (
            f" [{_figure(c.server_min)}..{_figure(c.server_max)}]"
            if c.server_min is not None and c.server_max is not None
            else ""
        )
        for level, c in failed[:8]
    )
    more = f" and {len(failed) - 8} more" if len(failed) > 8 else ""
    return Agreement(
        summary,
        ConditionStatus.FALSE,
        LoadTestReason.CHECKS_FAILED,
        f"{len(failed)} of {len(checks)} checks differ from vLLM's metrics by more than "
        f"{tolerance_percent}%: {shown}{more}",
    )
