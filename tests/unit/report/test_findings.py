"""Each finding rule on a recorded run: the LoadTest the e2e board test ran against the batching mock vLLM
with the DCGM stand-in (tests/e2e/test_dashboards.py, LLMLOAD_RECORD_DIR): levels 2, 4, 8, 16 of
concurrency, at most 4 running in the mock, 2 % injected HTTP 500s, an SLO of TTFT p90 <= 150 ms.

What the mock cannot produce (a saturated client, misaligned shards, disagreement with vLLM, preemptions,
a full KV cache) is tested on copies of the recorded levels with only the figures the rule reads changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtest_operator.api import LevelResult, LoadTestSpec, LoadTestStatus, Slo
from loadtest_operator.report import rules
from loadtest_operator.report.rules import Finding, RunFigures, Severity

FIXTURES = Path(__file__).parent / "fixtures"


def recorded() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "loadtest-batching-mock.json").read_text())
    return body


def run_figures(body: dict[str, Any] | None = None) -> RunFigures:
    body = body or recorded()
    status = LoadTestStatus.model_validate(body["status"])
    return RunFigures.of(status.levels or [], LoadTestSpec.model_validate(body["spec"]).slo)


def changed(run: RunFigures, level: int, **update: Any) -> RunFigures:
    """The run with one level's figures changed (nested: server={...} merges into the level's server)."""
    levels = []
    for lv in run.levels:
        if lv.level == level:
            data = lv.model_dump(by_alias=False)
            for key, value in update.items():
                merge = isinstance(value, dict) and key != "errors_by_kind"
                data[key] = {**(data.get(key) or {}), **value} if merge else value
            lv = LevelResult.model_validate(data, by_alias=False, by_name=True)
        levels.append(lv)
    return RunFigures.of(levels, run.slo)


def figure(finding: Finding, label: str) -> Any:
    return next(f.value for f in finding.figures if f.label == label)


def test_the_recorded_run_is_what_the_tests_assume() -> None:
    run = run_figures()
    assert [lv.level for lv in run.levels] == [2, 4, 8, 16]
    assert [lv.within_slo for lv in run.levels] == [True, True, False, False]
    assert all(lv.gpu and lv.server and lv.validation for lv in run.levels)


# -- knee ------------------------------------------------------------------------------------------------


def test_knee_is_the_last_level_within_the_slo_below_the_first_miss() -> None:
    run = run_figures()
    found = rules.knee(run)
    assert found is not None
    assert found.severity is Severity.INFO
    assert found.levels == (4, 8)
    assert found.title == "The knee is at level 4; level 8 was the first to miss the SLO"
    ttft = run.levels[2].ttft
    assert ttft is not None
    assert figure(found, "TTFT p90 at level 8 (objective 150 ms)") == ttft.p90
    assert f"TTFT p90 {ttft.p90:.1f} ms > 150 ms" in found.detail
    assert figure(found, "requests per second at level 4") == run.levels[1].requests_per_second


def test_knee_names_every_objective_missed_at_the_slo_percentile() -> None:
    run = run_figures()
    strict = RunFigures.of(run.levels, Slo(ttft_milliseconds=150, e2e_milliseconds=300, percentile=90))
    found = rules.knee(strict)
    assert found is not None
    assert [f.label for f in found.figures if "objective" in f.label] == [
        "TTFT p90 at level 8 (objective 150 ms)",
        "E2E p90 at level 8 (objective 300 ms)",
    ]


def test_knee_when_every_level_holds_is_a_lower_bound() -> None:
    run = run_figures()
    held = RunFigures.of([lv for lv in run.levels if lv.within_slo], run.slo)
    found = rules.knee(held)
    assert found is not None
    assert found.title == "Every level was within the SLO: the knee is at level 4 or above"
    assert "lower bound" in found.detail


def test_knee_when_even_the_lowest_level_misses_is_a_problem() -> None:
    run = run_figures()
    missed = RunFigures.of([lv for lv in run.levels if not lv.within_slo], run.slo)
    found = rules.knee(missed)
    assert found is not None
    assert found.severity is Severity.PROBLEM
    assert found.levels == (8,)


def test_without_an_slo_the_knee_rule_names_the_highest_throughput() -> None:
    run = run_figures()
    levels = [lv.model_copy(update={"within_slo": None, "goodput": None}) for lv in run.levels]
    found = rules.knee(RunFigures.of(levels))
    assert found is not None
    assert found.title == "No SLO: the highest throughput was at level 16"
    assert rules.knee(RunFigures.of([])) is None


# -- latency growth --------------------------------------------------------------------------------------


def test_latency_grew_fastest_where_the_mocks_batch_filled_and_throughput_stayed_flat() -> None:
    run = run_figures()
    found = rules.latency_growth(run)
    assert found is not None
    assert found.levels == (4, 8)
    a, b = run.levels[1], run.levels[2]
    assert a.ttft is not None
    assert b.ttft is not None
    factor = b.ttft.p90 / a.ttft.p90  # type: ignore[operator]
    assert figure(found, "growth factor") == round(factor, 2)
    assert factor > rules.LATENCY_JUMP_FACTOR
    gain = 100 * (b.requests_per_second - a.requests_per_second) / a.requests_per_second
    assert gain < rules.FLAT_THROUGHPUT_GAIN_PERCENT
    assert found.severity is Severity.WARNING
    assert "saturated" in found.detail


def test_latency_growth_with_throughput_still_rising_is_only_information() -> None:
    run = run_figures()
    faster = changed(run, 8, requests_per_second=run.levels[1].requests_per_second * 1.5)
    found = rules.latency_growth(faster)
    assert found is not None
    assert found.severity is Severity.INFO
    assert "throughput still grew" in found.detail


# -- client saturation, shard alignment, agreement with vLLM ----------------------------------------------


def test_client_kept_up_in_the_recorded_run() -> None:
    found = rules.client_saturation(run_figures())
    assert found is not None
    assert found.severity is Severity.OK


def test_a_saturated_level_is_named_with_its_reasons() -> None:
    reasons = ["event-loop lag p99 31.0 ms > 20 ms"]
    run = changed(run_figures(), 16, client_saturated=True, saturation={"reasons": reasons})
    found = rules.client_saturation(run)
    assert found is not None
    assert found.severity is Severity.WARNING
    assert found.levels == (16,)
    assert figure(found, "level 16") == reasons[0]


def test_shards_aligned_in_the_recorded_run_and_a_late_shard_is_flagged() -> None:
    run = run_figures()
    ok = rules.shard_alignment(run)
    assert ok is not None
    assert ok.severity is Severity.OK
    assert figure(ok, "lowest overlap (level 16)") == run.levels[3].shard_overlap
    late = rules.shard_alignment(changed(run, 4, shard_overlap=0.42, shard_start_spread_milliseconds=4600.0))
    assert late is not None
    assert late.severity is Severity.WARNING
    assert late.levels == (4,)
    assert figure(late, "overlap at level 4") == 0.42
    single = [lv.model_copy(update={"shard_overlap": None}) for lv in run.levels]
    assert rules.shard_alignment(RunFigures.of(single)) is None


def test_client_and_vllm_agree_in_the_recorded_run() -> None:
    found = rules.server_agreement(run_figures())
    assert found is not None
    assert found.severity is Severity.OK
    assert figure(found, "checks") == 20


def test_a_failed_check_and_a_latency_gap_are_named_with_both_numbers() -> None:
    run = run_figures()
    lv = run.levels[2]
    assert lv.validation is not None
    assert lv.server is not None
    assert lv.server.ttft_gap is not None
    checks = [c.model_dump(by_alias=False) for c in lv.validation.checks]
    output = next(c for c in checks if c["name"] == "OutputTokens")
    output.update(passed=False, client=output["server"] * 1.2, difference_percent=20.0)
    gap = lv.server.ttft_gap.model_dump(by_alias=False) | {"exceeds_tolerance": True}
    bad = changed(run, 8, validation={"checks": checks, "failed": 1}, server={"ttft_gap": gap})
    found = rules.server_agreement(bad)
    assert found is not None
    assert found.severity is Severity.WARNING
    assert found.levels == (8,)
    assert "(+20.0 %)" in figure(found, "level 8 OutputTokens")
    assert figure(found, "level 8 TTFT mean gap").startswith(f"client {gap['client_ms']:.1f} ms")


# -- vLLM: queue, KV cache, preemptions -------------------------------------------------------------------


def test_queueing_starts_where_the_mocks_batch_of_4_is_full() -> None:
    found = rules.queueing(run_figures())
    assert found is not None
    assert found.title == "vLLM queued requests from level 8"
    assert figure(found, "most running on a pod at level 8") == 4
    assert found.levels == (8, 16)


def test_kv_cache_is_low_in_the_recorded_run_and_pressure_is_flagged() -> None:
    run = run_figures()
    low = rules.kv_cache(run)
    assert low is not None
    assert low.severity is Severity.OK
    full = rules.kv_cache(changed(run, 16, server={"kv_cache_usage_percent_max": 97.5}))
    assert full is not None
    assert full.severity is Severity.WARNING
    assert full.levels == (16,)
    assert figure(full, "KV-cache use, highest, at level 16") == 97.5


def test_preemptions_none_recorded_then_counted() -> None:
    run = run_figures()
    none = rules.preemptions(run)
    assert none is not None
    assert none.severity is Severity.OK
    some = rules.preemptions(changed(run, 16, server={"preemptions": 12.0}))
    assert some is not None
    assert some.severity is Severity.WARNING
    assert figure(some, "preemptions at level 16") == 12.0


# -- energy and errors -----------------------------------------------------------------------------------


def test_energy_per_token_trend_and_most_efficient_level() -> None:
    run = run_figures()
    found = rules.energy(run)
    assert found is not None
    joules = [lv.gpu.joules_per_1k_output_tokens for lv in run.levels if lv.gpu]
    # The stand-in's power follows the running requests faster than the mock's tokens do: level 2 is cheapest.
    assert min(joules) == joules[0]  # type: ignore[type-var]
    assert found.levels == (2,)
    change = 100 * (joules[-1] - joules[0]) / joules[0]  # type: ignore[operator]
    assert figure(found, "change from level 2 to 16") == round(change, 1)
    expected = "flat" if abs(change) < rules.ENERGY_FLAT_PERCENT else "rose"
    assert f"Energy per token {expected} with load" in found.title
    no_gpu = [lv.model_copy(update={"gpu": None}) for lv in run.levels]
    assert rules.energy(RunFigures.of(no_gpu)) is None


def test_errors_by_kind_from_the_recorded_injected_500s() -> None:
    run = run_figures()
    found = rules.errors(run)
    assert found is not None
    total = sum(lv.requests - lv.successes for lv in run.levels)
    kinds = sum((lv.errors_by_kind or {}).get("http_500", 0) for lv in run.levels)
    assert total == kinds > 0
    assert figure(found, "kind http_500") == total
    worst = max(100 * (lv.requests - lv.successes) / lv.requests for lv in run.levels)
    assert found.severity is (Severity.PROBLEM if worst >= rules.ERROR_PROBLEM_PERCENT else Severity.WARNING)
    assert "HTTP 500 answers from the server" in found.detail


def test_errors_at_a_high_share_are_a_problem_and_none_is_ok() -> None:
    run = run_figures()
    lv = run.levels[3]
    many = changed(
        run, 16, successes=lv.requests // 2, errors_by_kind={"timeout": lv.requests - lv.requests // 2}
    )
    found = rules.errors(many)
    assert found is not None
    assert found.severity is Severity.PROBLEM
    assert "timeoutSeconds" in found.detail
    clean = [x.model_copy(update={"successes": x.requests, "errors_by_kind": None}) for x in run.levels]
    ok = rules.errors(RunFigures.of(clean))
    assert ok is not None
    assert ok.severity is Severity.OK


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.__name__)
def test_every_rule_judges_the_recorded_run_and_skips_an_empty_one(rule: Any) -> None:
    assert rule(run_figures()) is not None
    assert rule(RunFigures.of([])) is None


# -- a recorded Rate run: the load generator's own saturation and a real disagreement with vLLM ------------


def rate_run() -> RunFigures:
    body = json.loads((FIXTURES / "loadtest-rate-saturated.json").read_text())
    return run_figures(body)


def test_recorded_rate_run_flags_the_saturated_client_with_its_reasons() -> None:
    """Recorded with spec.loadGenerator.saturation.loopLagMillisecondsP99 = 1: the load generator flagged
    every level itself; at level 20 its sends also ran late (schedule lag)."""
    run = rate_run()
    found = rules.client_saturation(run)
    assert found is not None
    assert found.severity is Severity.WARNING
    assert found.levels == tuple(lv.level for lv in run.levels if lv.client_saturated) == (5, 10, 20)
    assert "schedule lag p99" in figure(found, "level 20")
    assert "event-loop lag p99" in figure(found, "level 5")


def test_recorded_rate_run_disagrees_with_vllm_at_its_first_level() -> None:
    """vLLM's TTFT histogram over level 5's window held far slower requests than the client measured
    (client 19 ms, vLLM 238 ms; the operator's ServerAgreement condition in the recording says the same;
    why the first level of this run disagreed was not investigated): TtftMean and E2eMean fail."""
    run = rate_run()
    found = rules.server_agreement(run)
    assert found is not None
    assert found.severity is Severity.WARNING
    assert found.levels == (5,)
    lv = run.levels[0]
    assert lv.validation is not None
    failed = {c.name.value for c in lv.validation.checks if not c.passed}
    assert {"TtftMean", "E2eMean"} <= failed
    assert figure(found, "level 5 TtftMean").startswith("client ")


def test_recorded_rate_run_knee_is_in_requests_per_second() -> None:
    found = rules.knee(RunFigures.of(rate_run().levels, rate_run().slo, "requests per second"))
    assert found is not None
    assert found.levels == (10, 20)
    assert "Level 10 (requests per second)" in found.detail
