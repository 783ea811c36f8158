"""The finding rules on a run recorded against the real vLLM (CPU build 0.32.0, the tiny local model) as a
pod on the local node, with the DCGM stand-in mapping a stand-in GPU to it (the e2e set-up of
tests/e2e/test_vllm.py; 2026-12-02): Concurrency levels 1, 4 and 16 of 8 s each, 32-token prompts, 16-token
answers, SLO TTFT p90 <= 50 ms and TPOT p90 <= 30 ms, validation within 5 % or 100 ms, one shard.

What the real server showed, and the rules must say: no preemption and no queue (the batch held all 16),
a KV cache all but empty, every check against vLLM's own series passed (as the operator's ServerAgreement
condition says), the knee at level 1, and a load generator that shared the node's two cores with vLLM and
said so at every level."""

from __future__ import annotations

import json
from typing import Any

from loadtest_operator.api import LoadTestSpec, LoadTestStatus
from loadtest_operator.report import loadtest_report, rules
from loadtest_operator.report.rules import Finding, RunFigures, Severity
from loadtest_operator.report.stored import stored_loadtest_report
from tests.unit.report.stored_fixtures import as_stored
from tests.unit.report.test_findings import FIXTURES

RECORDED = FIXTURES / "loadtest-real-vllm.json"


def body() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RECORDED.read_text())
    return loaded


def run() -> RunFigures:
    recorded = body()
    status = LoadTestStatus.model_validate(recorded["status"])
    return RunFigures.of(status.levels or [], LoadTestSpec.model_validate(recorded["spec"]).slo)


def figure(finding: Finding | None, label: str) -> Any:
    assert finding is not None
    return next(f.value for f in finding.figures if f.label == label)


def condition(kind: str) -> dict[str, Any]:
    return next(c for c in body()["status"]["conditions"] if c["type"] == kind)


def test_the_recording_is_a_real_vllm_run_with_every_figure() -> None:
    status = body()["status"]
    assert status["fingerprint"]["vllmVersion"] == "0.32.0"
    assert status["fingerprint"]["serving"][0]["servedModelName"] == "llmload-tiny-llama"
    figures = run()
    assert [lv.level for lv in figures.levels] == [1, 4, 16]
    # Timed levels of several scrapes: vLLM's series, the GPU's and the checks cover every level.
    assert all(lv.server and lv.gpu and lv.validation for lv in figures.levels)
    assert condition("GpuMetricsAvailable")["reason"] == "MetricsCollected"


def test_no_preemptions_on_the_real_server() -> None:
    found = rules.preemptions(run())
    assert found is not None
    assert (found.severity, found.title) == (Severity.OK, "vLLM preempted no request")
    assert figure(found, "levels counted") == 3  # vLLM's counter was read at every level, and did not grow
    assert all(lv.server and lv.server.preemptions == 0 for lv in run().levels)


def test_the_server_agreement_checks_pass_as_the_operators_condition_says() -> None:
    found = rules.server_agreement(run())
    assert found is not None
    assert found.severity is Severity.OK
    assert (condition("ServerAgreement")["status"], condition("ServerAgreement")["reason"]) == (
        "True",
        "ChecksPassed",
    )
    # The five checks at every level: vLLM's TTFT and E2E means, completed requests, output and prompt tokens.
    checks = {lv.level: [c.name for c in lv.validation.checks] for lv in run().levels if lv.validation}
    five = ["TtftMean", "E2eMean", "CompletedRequests", "OutputTokens", "PromptTokens"]
    assert checks == {1: five, 4: five, 16: five}
    assert (
        figure(found, "checks")
        == sum(len(c) for c in checks.values())
        == body()["status"]["validation"]["checks"]
    )
    # The largest mean-latency gap is the loaded client's own delay at level 16, inside the 100 ms tolerance.
    gap = figure(found, "largest mean-latency gap (level 16)")
    assert 0 < gap < 100


def test_vllm_never_queued_and_its_kv_cache_stayed_nearly_empty() -> None:
    queue = rules.queueing(run())
    assert queue is not None
    assert queue.severity is Severity.OK
    assert figure(queue, "most running at once (level 16)") == 16  # the batch held every request sent
    kv = rules.kv_cache(run())
    assert kv is not None
    assert kv.severity is Severity.OK
    assert figure(kv, "KV-cache use, highest, at level 16") < 1.0  # percent: 16 short requests


def test_the_knee_is_level_1_and_level_4_missed_the_ttft_objective() -> None:
    found = rules.knee(run())
    assert found is not None
    assert found.title == "The knee is at level 1; level 4 was the first to miss the SLO"
    ttft = figure(found, "TTFT p90 at level 4 (objective 50 ms)")
    assert ttft > 50
    assert f"TTFT p90 {ttft:.1f} ms > 50 ms" in found.detail
    assert body()["status"]["summary"].endswith("within SLO up to level 1")


def test_the_load_generator_sharing_the_cores_with_vllm_was_flagged_at_every_level() -> None:
    found = rules.client_saturation(run())
    assert found is not None
    assert found.severity is Severity.WARNING
    assert found.levels == (1, 4, 16)
    reasons = [str(f.value) for f in found.figures]
    assert all(r.startswith("event-loop lag p99 ") and r.endswith(" ms > 20 ms") for r in reasons)


def test_latency_grew_fastest_from_4_to_16_while_throughput_still_grew() -> None:
    found = rules.latency_growth(run())
    assert found is not None
    assert found.levels == (4, 16)
    assert found.severity is Severity.INFO  # not saturated: throughput rose far more than 10 %
    assert figure(found, "throughput gain") > 100


def test_no_request_failed_and_the_stored_run_reads_the_same() -> None:
    errors = rules.errors(run())
    assert errors is not None
    assert (errors.severity, figure(errors, "requests")) == (
        Severity.OK,
        sum(lv.requests for lv in run().levels),
    )
    assert rules.shard_alignment(run()) is None  # one shard
    assert stored_loadtest_report(as_stored(body())).findings == loadtest_report(body()).findings
