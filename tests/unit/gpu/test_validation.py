"""The checks of a level's client figures against vLLM's: the exact counter bracket, every check passing
and failing with both numbers, and the tolerance they were judged with."""

from __future__ import annotations

import pytest

from loadtest_operator.api.gpu import ServerLatency, ServerLevelMetrics
from loadtest_operator.api.validation import CheckName
from loadtest_operator.gpu.aggregate import GapTolerance, Sample
from loadtest_operator.gpu.discovery import PodRef, vllm_selector
from loadtest_operator.gpu.validation import (
    EDGE_SECONDS,
    ClientFigures,
    CounterReading,
    count_check,
    counter_queries,
    counter_reading,
    latency_check,
    level_validation,
)

TOL = GapTolerance.from_percent(5, 5)
POD = {"namespace": "llm", "pod": "vllm-0", "model_name": "m", "engine": "0"}


def readings(
    name: CheckName,
    estimate: float,
    before_start: float | None,
    first_in: float | None,
    last_in: float | None,
    after_end: float | None,
    resets: float = 0.0,
    labels: dict[str, str] | None = None,
) -> dict[str, list[Sample]]:
    """One series' six readings, as collect() hands them over (a plain selector keeps __name__)."""
    labels = labels or POD

    def one(value: float | None, named: bool = False) -> list[Sample]:
        extra = {"__name__": "vllm:x"} if named else {}
        return [] if value is None else [Sample({**labels, **extra}, value)]

    return {
        f"{name}:estimate": one(estimate),
        f"{name}:before_start": one(before_start, named=True),
        f"{name}:first_in": one(first_in),
        f"{name}:last_in": one(last_in, named=True),
        f"{name}:after_end": one(after_end),
        f"{name}:resets": one(resets),
    }


def merge(*parts: dict[str, list[Sample]]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for part in parts:
        for key, samples in part.items():
            out.setdefault(key, []).extend(samples)
    return out


def test_queries_read_each_counter_at_the_edges_of_the_window() -> None:
    queries = counter_queries(vllm_selector([PodRef("vllm-0", "llm")]), 100.0, 160.0)
    success = {k.split(":", 1)[1]: v for k, v in queries.items() if k.startswith("CompletedRequests:")}
    assert success["estimate"] == (
        'increase(vllm:request_success_total{namespace="llm",pod="vllm-0",finished_reason=~"stop|length"}[60000ms])',
        160.0,
    )
    assert success["before_start"][1] == 100.0
    assert "[" not in success["before_start"][0]
    assert success["first_in"] == (success["first_in"][0], 100.0 + EDGE_SECONDS)
    assert success["first_in"][0].startswith("min_over_time(")
    assert "[120000ms]" in success["first_in"][0]
    assert success["last_in"][1] == 160.0
    assert success["after_end"][1] == 160.0 + EDGE_SECONDS
    assert success["resets"] == (success["resets"][0], 160.0 + EDGE_SECONDS)
    assert "[300000ms]" in success["resets"][0]  # from EDGE before start to EDGE after the end
    assert any("vllm:generation_tokens_total" in q for q, _ in queries.values())
    assert any("vllm:prompt_tokens_total" in q for q, _ in queries.values())


def test_the_bracket_holds_the_true_count() -> None:
    # Scrapes at 95 (990), 105 (1000), ..., 155 (1090), 165 (1100): the level [100, 160] has true count in
    # [1090 - 1000, 1100 - 990] = [90, 110].
    r = counter_reading(
        readings(CheckName.OUTPUT_TOKENS, 99.0, 990, 1000, 1090, 1100), CheckName.OUTPUT_TOKENS
    )
    assert r == CounterReading(estimate=99.0, low=90.0, high=110.0)


def test_the_bracket_sums_series_of_every_pod_and_finish_reason() -> None:
    name = CheckName.COMPLETED_REQUESTS
    stop = readings(name, 5.0, 0, 0, 5, 5, labels={**POD, "finished_reason": "stop"})
    length = readings(name, 40.0, 100, 102, 140, 141, labels={**POD, "finished_reason": "length"})
    other = readings(name, 10.0, 7, 8, 17, 18, labels={**POD, "pod": "vllm-1", "finished_reason": "length"})
    r = counter_reading(merge(stop, length, other), name)
    assert r == CounterReading(estimate=55.0, low=5 + 38 + 9, high=5 + 41 + 11)


def test_no_scrape_after_the_level_leaves_the_upper_bound_unknown() -> None:
    r = counter_reading(
        readings(CheckName.OUTPUT_TOKENS, 99.0, 990, 1000, 1090, None), CheckName.OUTPUT_TOKENS
    )
    assert r == CounterReading(estimate=99.0, low=90.0, high=None)


def test_no_scrape_inside_a_short_level_makes_the_lower_bound_zero() -> None:
    # Scrapes at 95 (10) and 105 (30) around a level [96, 104]: first_in is after last_in.
    r = counter_reading(readings(CheckName.OUTPUT_TOKENS, 18.0, 10, 30, 10, 30), CheckName.OUTPUT_TOKENS)
    assert r == CounterReading(estimate=18.0, low=0.0, high=20.0)


@pytest.mark.parametrize(
    "values",
    [
        (99.0, 990, 1000, 1090, 1100, 1.0),  # resets() saw one
        (99.0, 990, 1000, 1090, 5, 0.0),  # the counter went down after the level: a restart
        (99.0, 990, 3, 1090, 1100, 0.0),  # ... or before it
    ],
)
def test_a_counter_reset_leaves_only_the_estimate(values: tuple[float, ...]) -> None:
    estimate, a, b, c, d, resets = values
    r = counter_reading(
        readings(CheckName.OUTPUT_TOKENS, estimate, a, b, c, d, resets), CheckName.OUTPUT_TOKENS
    )
    assert r == CounterReading(estimate=99.0, low=None, high=None)


def test_no_series_is_no_reading() -> None:
    assert counter_reading({}, CheckName.OUTPUT_TOKENS) is None


@pytest.mark.parametrize(
    ("client", "reading", "passed"),
    [
        (100, CounterReading(99.0, 90.0, 110.0), True),  # inside the bracket
        (86, CounterReading(99.0, 90.0, 110.0), True),  # 4.4 % below the lower bound
        (85, CounterReading(99.0, 90.0, 110.0), False),  # 5.6 % below: vLLM saw more than the client
        (115, CounterReading(99.0, 90.0, 110.0), True),  # 4.5 % above the upper bound
        (116, CounterReading(99.0, 90.0, 110.0), False),  # above it: answers vLLM never counted
        (103, CounterReading(99.0, 90.0, None), True),  # no upper bound: the estimate stands in (+4 %)
        (104, CounterReading(99.0, 90.0, None), False),  # +5.05 %
        (95, CounterReading(99.0, None, None), True),  # a reset: the estimate both ways (-4 %)
        (94, CounterReading(99.0, None, None), False),  # -5.05 %
        (0, CounterReading(0.0, 0.0, 0.0), True),  # nothing on either side
        (1, CounterReading(0.0, 0.0, 0.0), False),
    ],
)
def test_count_check(client: int, reading: CounterReading, passed: bool) -> None:
    check = count_check(CheckName.COMPLETED_REQUESTS, client, reading, TOL)
    assert check.passed is passed
    assert (check.client, check.server) == (client, reading.estimate)
    assert (check.server_min, check.server_max) == (reading.low, reading.high)
    expected = None if not reading.estimate else (client - reading.estimate) / reading.estimate * 100
    assert check.difference_percent == expected


@pytest.mark.parametrize(
    ("client", "server", "passed"),
    [
        (104.0, 100.0, True),  # 3.8 % of the client's mean
        (106.0, 100.0, False),  # 5.7 % and 6 ms
        (8.0, 3.0, True),  # 167 % but only 5 ms: a network hop on a tiny TTFT
        (8.5, 3.0, False),
        (90.0, 100.0, False),  # vLLM slower than the client saw (11 %): clocks or windows disagree
    ],
)
def test_latency_check(client: float, server: float, passed: bool) -> None:
    check = latency_check(CheckName.TTFT_MEAN, client, server, TOL)
    assert check.passed is passed
    assert (check.client, check.server) == (client, server)
    assert check.server_min is None
    assert check.server_max is None


def test_the_tolerance_comes_from_the_spec() -> None:
    strict, loose = GapTolerance.from_percent(1, 0), GapTolerance.from_percent(20, 0)
    assert not latency_check(CheckName.E2E_MEAN, 110.0, 100.0, strict).passed
    assert latency_check(CheckName.E2E_MEAN, 110.0, 100.0, loose).passed
    assert not count_check(CheckName.OUTPUT_TOKENS, 115, CounterReading(100.0, 100.0, 100.0), strict).passed
    assert count_check(CheckName.OUTPUT_TOKENS, 115, CounterReading(100.0, 100.0, 100.0), loose).passed


def server(ttft: float | None, e2e: float | None) -> ServerLevelMetrics:
    return ServerLevelMetrics(
        ttft=ServerLatency(mean=ttft) if ttft is not None else None,
        e2e=ServerLatency(mean=e2e) if e2e is not None else None,
    )


def test_a_level_gets_every_check_its_figures_allow() -> None:
    counters = merge(
        readings(CheckName.COMPLETED_REQUESTS, 200.0, 0, 2, 199, 200),
        readings(CheckName.OUTPUT_TOKENS, 25_600.0, 0, 256, 25_472, 25_600),
        readings(CheckName.PROMPT_TOKENS, 20_000.0, 0, 100, 19_900, 20_000),
    )
    client = ClientFigures(
        ttft_mean_ms=52.0, e2e_mean_ms=900.0, successes=200, output_tokens=25_600, input_tokens=24_000
    )
    validation = level_validation(client, server(50.0, 880.0), counters, TOL)
    assert validation is not None
    assert (validation.tolerance_percent, validation.latency_tolerance_milliseconds) == (5, 5)
    by_name = {c.name: c for c in validation.checks}
    assert list(by_name) == [
        CheckName.TTFT_MEAN,
        CheckName.E2E_MEAN,
        CheckName.COMPLETED_REQUESTS,
        CheckName.OUTPUT_TOKENS,
        CheckName.PROMPT_TOKENS,
    ]
    assert [c.passed for c in validation.checks] == [True, True, True, True, False]
    assert (by_name[CheckName.PROMPT_TOKENS].client, by_name[CheckName.PROMPT_TOKENS].server) == (
        24_000,
        20_000,
    )
    assert validation.failed == 1


def test_a_level_without_vllm_figures_has_no_validation() -> None:
    assert level_validation(ClientFigures(ttft_mean_ms=5.0, successes=3), None, {}, TOL) is None


def test_a_level_checks_only_what_both_sides_have() -> None:
    counters = readings(CheckName.OUTPUT_TOKENS, 10.0, 0, 0, 10, 10)
    validation = level_validation(ClientFigures(output_tokens=10), server(None, 5.0), counters, TOL)
    assert validation is not None
    assert [c.name for c in validation.checks] == [CheckName.OUTPUT_TOKENS]
