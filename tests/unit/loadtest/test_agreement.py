"""The run's checks counted into status.validation and the ServerAgreement condition."""

from __future__ import annotations

from loadtest_operator.api import ConditionStatus, LevelResult, LoadTestReason
from loadtest_operator.api.validation import CheckName, LevelValidation, ValidationCheck
from loadtest_operator.loadtest.agreement import agreement


def level(n: int, *checks: ValidationCheck) -> LevelResult:
    validation = LevelValidation(
        tolerance_percent=5,
        latency_tolerance_milliseconds=5,
        checks=list(checks),
        failed=sum(not c.passed for c in checks),
    )
    return LevelResult(
        level=n, requests=10, successes=10, requests_per_second=1.0, output_tokens_per_second=1.0,
        total_tokens_per_second=1.0, validation=validation if checks else None,
    )  # fmt: skip


def check(name: CheckName, passed: bool, client: float = 100.0, server: float = 100.0) -> ValidationCheck:
    return ValidationCheck(name=name, passed=passed, client=client, server=server)


def test_every_check_passing_is_true() -> None:
    result = agreement(
        [level(1, check(CheckName.TTFT_MEAN, True)), level(2, check(CheckName.E2E_MEAN, True))], 5
    )
    assert (result.status, result.reason) == (ConditionStatus.TRUE, LoadTestReason.CHECKS_PASSED)
    assert (result.summary.checks, result.summary.failed, result.summary.failed_checks) == (2, 0, None)
    assert "all 2 checks" in result.message


def test_a_failed_check_is_false_with_both_numbers() -> None:
    failing = ValidationCheck(
        name=CheckName.COMPLETED_REQUESTS,
        passed=False,
        client=180,
        server=200,
        server_min=195,
        server_max=205,
    )
    result = agreement([level(1, check(CheckName.TTFT_MEAN, True)), level(4, failing)], 5)
    assert (result.status, result.reason) == (ConditionStatus.FALSE, LoadTestReason.CHECKS_FAILED)
    assert result.summary.failed_checks == ["level 4: CompletedRequests"]
    assert result.summary.tolerance_percent == 5
    assert "1 of 2 checks" in result.message
    assert "level 4 CompletedRequests: client 180, vLLM 200 [195..205]" in result.message


def test_nothing_to_check_is_unknown() -> None:
    result = agreement([level(1), level(2)], 5)
    assert (result.status, result.reason) == (ConditionStatus.UNKNOWN, LoadTestReason.NO_SERVER_FIGURES)
    assert result.summary.checks == 0


def test_many_failures_are_listed_within_bounds() -> None:
    levels = [level(n, check(CheckName.OUTPUT_TOKENS, False, 1.0, 2.0)) for n in range(1, 65)]
    result = agreement(levels, 5)
    assert result.summary.failed == 64
    assert result.summary.failed_checks is not None
    assert len(result.summary.failed_checks) == 32
    assert "and 56 more" in result.message
