"""Best level, success criteria and the one-line summary."""

from typing import Any

import pytest

from loadtest_operator.api import Goodput, LevelResult, SuccessCriteria
from loadtest_operator.loadtest.results import (
    best_goodput_level,
    error_rate_percent,
    evaluate_success_criteria,
    summary_line,
)


def level(
    n: int,
    requests: int = 100,
    successes: int = 100,
    rps: float = 10.0,
    good_per_second: float | None = None,
    good_percent: float = 100.0,
    within_slo: bool | None = None,
) -> LevelResult:
    goodput = None
    if good_per_second is not None:
        goodput = Goodput(count=int(good_percent), per_second=good_per_second, percent=good_percent)
    return LevelResult(
        level=n,
        requests=requests,
        successes=successes,
        requests_per_second=rps,
        output_tokens_per_second=rps * 100,
        total_tokens_per_second=rps * 600,
        goodput=goodput,
        within_slo=within_slo,
    )


@pytest.mark.parametrize(
    ("levels", "best"),
    [
        ([], None),
        ([level(1, good_per_second=2.0), level(2, good_per_second=5.0), level(4, good_per_second=3.0)], 2),
        ([level(1, good_per_second=4.0), level(2, good_per_second=4.0)], 1),  # tie: less load wins
        ([level(1, rps=3.0), level(2, rps=7.0)], 2),  # no SLO: throughput
        ([level(1, good_per_second=0.0)], None),
    ],
)
def test_best_goodput_level(levels: list[LevelResult], best: int | None) -> None:
    assert best_goodput_level(levels) == best


def test_error_rate() -> None:
    assert error_rate_percent(level(1, requests=200, successes=190)) == 5.0
    assert error_rate_percent(level(1, requests=0, successes=0)) == 0.0


LEVELS = [
    level(4, requests=100, successes=100, good_per_second=5.0, good_percent=98.0, within_slo=True),
    level(8, requests=100, successes=99, good_per_second=8.0, good_percent=91.0, within_slo=True),
    level(16, requests=100, successes=90, good_per_second=6.0, good_percent=40.0, within_slo=False),
]


@pytest.mark.parametrize(
    ("criteria", "fields"),
    [
        (None, []),
        ({}, []),
        ({"maxErrorRatePercent": 10}, []),
        ({"maxErrorRatePercent": 5}, ["maxErrorRatePercent"]),
        ({"maxErrorRatePercent": 0}, ["maxErrorRatePercent", "maxErrorRatePercent"]),
        ({"minLevelWithinSlo": 8}, []),
        ({"minLevelWithinSlo": 16}, ["minLevelWithinSlo"]),
        ({"minLevelWithinSlo": 32}, ["minLevelWithinSlo", "minLevelWithinSlo"]),
        ({"minGoodputPercent": 95}, []),  # only the lowest level without minLevelWithinSlo
        ({"minGoodputPercent": 95, "minLevelWithinSlo": 8}, ["minGoodputPercent"]),
        ({"minGoodputPercent": 99}, ["minGoodputPercent"]),
    ],
)
def test_evaluate_success_criteria(criteria: dict[str, Any] | None, fields: list[str]) -> None:
    parsed = None if criteria is None else SuccessCriteria.model_validate(criteria)
    problems = evaluate_success_criteria(parsed, LEVELS)
    assert [p.field.rsplit(".", 1)[1] for p in problems] == fields
    assert {p.reason for p in problems} <= {"CriteriaNotMet"}


def test_summary_line() -> None:
    assert summary_line(LEVELS) == (
        "3 levels, 300 requests, 3.7% errors; best goodput 8.0/s at level 8; within SLO up to level 8"
    )


def test_summary_line_without_slo_or_results() -> None:
    assert summary_line([]) == "no results"
    assert (
        summary_line([level(1, rps=2.5)])
        == "1 level, 100 requests, 0.0% errors; best throughput 2.5 req/s at level 1"
    )


def test_summary_line_when_no_level_is_within_slo() -> None:
    assert summary_line([level(1, good_per_second=1.0, within_slo=False)]).endswith("no level within SLO")
