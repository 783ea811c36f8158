"""Semantic validation: each row is a spec change and the reasons it must produce (none = valid)."""

from typing import Any

import pytest

from loadgen.distribution import DistributionCode
from loadtest_operator.api import ConfigMapKeyRef, SecretKeyRef, ServiceRef
from loadtest_operator.api.conditions import LoadTestReason
from loadtest_operator.core.problems import Problem, summarize
from loadtest_operator.loadtest import validation
from loadtest_operator.loadtest.validation import (
    check_config_map_key,
    check_secret_key,
    check_service,
    check_target_pods,
    parse_spec,
    validate_spec,
)
from tests.unit.operator.specs import DELETE, VALID_SPEC, make_spec, merged

DATASET = {"datasetConfigMapRef": {"name": "sharegpt", "key": "data.json"}}
DATASET_ONLY = {"inputTokens": DELETE, "outputTokens": DELETE, **DATASET}
NORMAL_TO_FIXED = {"distribution": "Fixed", "stddev": None, "min": None, "max": None}

SPEC_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("valid", {}, []),
    ("url target with Anywhere", {"target": {"serviceRef": DELETE, "url": "http://10.0.0.1:8000"}}, []),
    ("no target", {"target": {"serviceRef": DELETE}}, ["TargetNotSet"]),
    ("two targets", {"target": {"url": "http://10.0.0.1:8000"}}, ["TargetAmbiguous"]),
    (
        "SameNode needs a Service",
        {"target": {"serviceRef": DELETE, "url": "http://h:1"}, "loadGenerator": {"placement": "SameNode"}},
        ["PlacementNeedsServiceRef"],
    ),
    ("dataset instead of synthetic", {"workload": {"inputTokens": DELETE, **DATASET}}, []),
    (
        "dataset without output tokens",
        {"workload": {"inputTokens": DELETE, "outputTokens": DELETE, **DATASET}},
        [],
    ),
    ("no workload", {"workload": {"inputTokens": DELETE}}, ["WorkloadNotSet"]),
    ("two workloads", {"workload": DATASET}, ["WorkloadAmbiguous"]),
    ("synthetic without output", {"workload": {"outputTokens": DELETE}}, ["OutputTokensNotSet"]),
    (
        "uniform output lengths",
        {"workload": {"outputTokens": {"distribution": "Uniform", "mean": None, "min": 10, "max": 50}}},
        [],
    ),
    (
        "normal output lengths",
        {"workload": {"outputTokens": {"distribution": "Normal", "mean": 100, "stddev": 20}}},
        [],
    ),
    (
        "normal output without stddev",
        {"workload": {"outputTokens": {"distribution": "Normal", "mean": 100}}},
        ["DistributionParameterMissing"],
    ),
    ("dataset output lengths", {"workload": {**DATASET_ONLY, "datasetOutputTokens": True}}, []),
    (
        "dataset output lengths without a dataset",
        {"workload": {"datasetOutputTokens": True, "outputTokens": DELETE}},
        ["OutputTokensNotSet", "DatasetOutputNeedsDataset"],
    ),
    (
        "dataset output lengths and outputTokens",
        {"workload": {"inputTokens": DELETE, **DATASET, "datasetOutputTokens": True}},
        ["OutputTokensAmbiguous"],
    ),
    ("multi-turn chat conversations", {"workload": {**DATASET_ONLY, "multiTurn": {"maxTurns": 4}}}, []),
    ("multi-turn without a dataset", {"workload": {"multiTurn": {}}}, ["MultiTurnNeedsDataset"]),
    (
        "multi-turn with completions",
        {"target": {"api": "Completions"}, "workload": {**DATASET_ONLY, "multiTurn": {}}},
        ["MultiTurnNeedsChat"],
    ),
    (
        "multi-turn in rate mode",
        {"load": {"mode": "Rate", "levels": [2, 4]}, "workload": {**DATASET_ONLY, "multiTurn": {}}},
        ["MultiTurnNeedsConcurrencyMode"],
    ),
    ("not streamed with a TTFT objective", {"workload": {"stream": False}}, ["SloNeedsStream"]),
    (
        "not streamed, judged on E2E",
        {
            "workload": {"stream": False},
            "slo": {"ttftMilliseconds": None, "tpotMilliseconds": None, "e2eMilliseconds": 900},
        },
        [],
    ),
    (
        "fixed without mean",
        {"workload": {"outputTokens": {"distribution": "Fixed", "mean": None}}},
        ["DistributionParameterMissing"],
    ),
    (
        "fixed with stddev",
        {"workload": {"outputTokens": {"stddev": 3}}},
        ["DistributionParameterUnused"],
    ),
    (
        "uniform needs min and max",
        {"workload": {"outputTokens": {"distribution": "Uniform", "mean": None, "min": 10}}},
        ["DistributionParameterMissing"],
    ),
    (
        "uniform min above max",
        {"workload": {"outputTokens": {"distribution": "Uniform", "mean": None, "min": 10, "max": 5}}},
        ["DistributionRangeInvalid"],
    ),
    (
        "normal mean outside range",
        {"workload": {"inputTokens": {"mean": 2000}}},
        ["DistributionRangeInvalid"],
    ),
    (
        "normal with mean only",
        {"workload": {"inputTokens": {"stddev": None}}},
        ["DistributionParameterMissing"],
    ),
    # Accepted here and then refused (or silently mis-run) by loadgen before the rules were shared:
    ("normal without spread", {"workload": {"inputTokens": {"stddev": 0}}}, ["DistributionWithoutSpread"]),
    (
        "shared prefix above a normal's min",
        {"workload": {"sharedPrefixTokens": 16}},
        ["SharedPrefixTooLong"],
    ),
    (
        "shared prefix as long as a fixed prompt",
        {"workload": {"sharedPrefixTokens": 512, "inputTokens": NORMAL_TO_FIXED}},
        ["SharedPrefixTooLong"],
    ),
    ("shared prefix below every prompt", {"workload": {"sharedPrefixTokens": 15}}, []),
    (
        "shared prefix with a dataset",
        {"workload": {**DATASET, "inputTokens": DELETE, "sharedPrefixTokens": 4096}},
        [],
    ),
    (
        "uniform of one length",
        {
            "workload": {
                "inputTokens": {"distribution": "Uniform", "mean": None, "stddev": None, "min": 9, "max": 9}
            }
        },
        [],
    ),
    (
        "uniform with a mean",
        {"workload": {"inputTokens": {"distribution": "Uniform", "stddev": None}}},
        ["DistributionParameterUnused"],
    ),
    ("levels unsorted", {"load": {"levels": [8, 4, 16]}}, ["LevelsNotSorted"]),
    ("levels repeated", {"load": {"levels": [4, 4, 8]}}, ["LevelsNotUnique"]),
    ("no level length", {"load": {"requestsPerLevel": None}}, ["LevelLengthNotSet"]),
    ("two level lengths", {"load": {"levelDurationSeconds": 60}}, ["LevelLengthAmbiguous"]),
    ("duration only", {"load": {"requestsPerLevel": None, "levelDurationSeconds": 60}}, []),
    ("fewer requests than concurrency", {"load": {"requestsPerLevel": 10}}, ["RequestsBelowLevel"]),
    ("arrival in concurrency mode", {"load": {"arrival": "Poisson"}}, ["ArrivalNeedsRateMode"]),
    ("cap in concurrency mode", {"load": {"maxConcurrency": 32}}, ["MaxConcurrencyNeedsRateMode"]),
    (
        "rate mode with arrival and cap",
        {"load": {"mode": "Rate", "arrival": "Constant", "maxConcurrency": 64, "levels": [1, 2]}},
        [],
    ),
    ("more shards than smallest level", {"loadGenerator": {"parallelism": 5}}, ["TooManyShards"]),
    (
        "rate mode allows shards above the level",
        {"load": {"mode": "Rate", "levels": [1, 2]}, "loadGenerator": {"parallelism": 4}},
        [],
    ),
    (
        "more shards than the rate-mode cap",
        {"load": {"mode": "Rate", "maxConcurrency": 2}, "loadGenerator": {"parallelism": 3}},
        ["TooManyShards"],
    ),
    (
        "more shards than requests",
        {"load": {"mode": "Rate", "requestsPerLevel": 2}, "loadGenerator": {"parallelism": 3}},
        ["TooManyShards"],
    ),
    (
        "min succeeded above parallelism",
        {"loadGenerator": {"minSucceededShards": 3}},
        ["MinSucceededShardsTooLarge"],
    ),
    # A shard's result is bounded by its histograms' buckets, not its requests: no size to refuse.
    ("ten million requests per level", {"load": {"requestsPerLevel": 10_000_000}}, []),
    ("warm-up requests are in no result", {"load": {"warmupRequests": 1_000_000}}, []),
    (
        "rate levels for a day",
        {
            "load": {
                "mode": "Rate",
                "levels": [100, 200],
                "requestsPerLevel": None,
                "levelDurationSeconds": 86_400,
            }
        },
        [],
    ),
    (
        "concurrency for a day: no bound known up front",
        {"load": {"requestsPerLevel": None, "levelDurationSeconds": 86_400}},
        [],
    ),
    ("empty slo", {"slo": {"ttftMilliseconds": None, "tpotMilliseconds": None}}, ["SloEmpty"]),
    (
        "goodput criterion without slo",
        {"slo": None, "successCriteria": {"minGoodputPercent": 90}},
        ["CriteriaNeedSlo"],
    ),
    (
        "criterion on an unknown level",
        {"successCriteria": {"minLevelWithinSlo": 5}},
        ["CriteriaLevelUnknown"],
    ),
    (
        "criteria on a known level",
        {"successCriteria": {"minLevelWithinSlo": 8, "minGoodputPercent": 95, "maxErrorRatePercent": 1}},
        [],
    ),
    (
        "problems are all reported at once",
        {"target": {"serviceRef": DELETE}, "load": {"levels": [8, 4]}},
        ["TargetNotSet", "LevelsNotSorted"],
    ),
]


@pytest.mark.parametrize(("patch", "reasons"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_validate_spec(patch: dict[str, Any], reasons: list[str]) -> None:
    assert [p.reason for p in validate_spec(make_spec(patch))] == reasons


def test_problem_messages_say_what_to_do() -> None:
    (problem,) = validate_spec(make_spec({"loadGenerator": {"parallelism": 5}}))
    assert problem.field == "spec.loadGenerator.parallelism"
    assert "at most 4" in problem.message


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        (
            {"workload": {"inputTokens": {"stddev": 0}}},
            "spec.workload.inputTokens",
            "Normal needs stddev above 0; for one length for every request use distribution: Fixed with mean: 512",
        ),
        (
            {"workload": {"sharedPrefixTokens": 100}},
            "spec.workload.sharedPrefixTokens",
            "the shared prefix (100 tokens) leaves no room for the unique part of the shortest Normal prompt "
            "(min 16); raise min above 100 or shorten the shared prefix below 16",
        ),
        (
            {"workload": {"outputTokens": {"distribution": "Fixed", "mean": None}}},
            "spec.workload.outputTokens",
            "Fixed needs mean; set it, e.g. mean: 512",
        ),
    ],
)  # fmt: skip
def test_distribution_messages_say_what_to_change(patch: dict[str, Any], field: str, message: str) -> None:
    (problem,) = validate_spec(make_spec(patch))
    assert (problem.field, problem.message) == (field, message)


def test_what_loadgen_refuses_is_refused_with_the_spec_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The net under the rules: a run config loadgen refuses becomes a problem at the user's field.
    (No spec reaches it through the rules above; a bad placeholder target stands in for one.)"""
    monkeypatch.setattr(validation, "VALIDATION_URL", "vllm:8000")
    (problem,) = validate_spec(make_spec())
    assert problem.reason == LoadTestReason.RUN_CONFIG_INVALID
    assert problem.field == "spec.target"
    assert problem.message == (
        "the load generator refuses this spec: 'vllm:8000' needs a scheme, e.g. http://127.0.0.1:8000 "
        "(its run-config field target_url)"
    )


def test_every_distribution_rule_has_its_own_reason() -> None:
    assert set(validation._DISTRIBUTION_REASONS) == set(DistributionCode)
    assert len(set(validation._DISTRIBUTION_REASONS.values())) == len(DistributionCode)


def test_the_net_reports_what_the_seam_cannot_build() -> None:
    """check_run_config on its own, on a spec the rules refuse: a problem, never an exception."""
    spec = make_spec(
        {"workload": {"outputTokens": {"distribution": "Uniform", "mean": None, "min": 9, "max": 1}}}
    )
    (problem,) = validation.check_run_config(spec)
    assert problem.reason == LoadTestReason.RUN_CONFIG_INVALID
    assert "min (9) is above max (1)" in problem.message
    assert problem.field == "spec.workload.outputTokens"


def test_summarize_keeps_every_message() -> None:
    reason, message = summarize(
        [
            Problem("LevelsNotSorted", "sort them", "spec.load.levels"),
            Problem("SloEmpty", "add one", "spec.slo"),
        ]
    )
    assert reason == "LevelsNotSorted"
    assert message == "spec.load.levels: sort them; spec.slo: add one"


def test_summarize_refuses_empty() -> None:
    with pytest.raises(ValueError, match="no problems"):
        summarize([])


REF = ServiceRef(name="vllm", port=8000)
GOOD_SERVICE = {"spec": {"clusterIP": "198.19.0.10", "selector": {"app": "vllm"}, "ports": [{"port": 8000}]}}

SERVICE_CASES: list[tuple[str, dict[str, Any] | None, list[str]]] = [
    ("valid", GOOD_SERVICE, []),
    ("missing", None, ["ServiceNotFound"]),
    ("headless", {"spec": {**GOOD_SERVICE["spec"], "clusterIP": "None"}}, ["ServiceWithoutClusterIP"]),
    (
        "external name",
        {"spec": {"type": "ExternalName", "externalName": "x", "ports": [{"port": 8000}]}},
        ["ServiceWithoutClusterIP", "ServiceWithoutSelector"],
    ),
    ("no selector", {"spec": {**GOOD_SERVICE["spec"], "selector": {}}}, ["ServiceWithoutSelector"]),
    ("wrong port", {"spec": {**GOOD_SERVICE["spec"], "ports": [{"port": 80}]}}, ["ServicePortNotFound"]),
]


@pytest.mark.parametrize(
    ("service", "reasons"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_check_service(service: dict[str, Any] | None, reasons: list[str]) -> None:
    assert [p.reason for p in check_service(service, REF)] == reasons


def pod(phase: str = "Running", ready: str = "True", deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "vllm-0"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-23T04:00:00Z"
    return {
        "metadata": metadata,
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
    }


@pytest.mark.parametrize(
    ("pods", "reasons"),
    [
        ([pod()], []),
        ([pod(phase="Pending", ready="False"), pod()], []),
        ([], ["NoReadyPods"]),
        ([pod(ready="False")], ["NoReadyPods"]),
        ([pod(phase="Pending", ready="False")], ["NoReadyPods"]),
        ([pod(deleting=True)], ["NoReadyPods"]),
    ],
    ids=["ready", "one of two ready", "none", "not ready", "pending", "terminating"],
)
def test_check_target_pods(pods: list[dict[str, Any]], reasons: list[str]) -> None:
    assert [p.reason for p in check_target_pods(pods, "vllm")] == reasons


def test_no_ready_pods_message_shows_what_was_found() -> None:
    (problem,) = check_target_pods([pod(phase="Pending", ready="False")], "vllm")
    assert "1 pod(s)" in problem.message
    assert "Pending" in problem.message


@pytest.mark.parametrize(
    ("secret", "reasons"),
    [
        ({"data": {"token": "c2VjcmV0"}}, []),
        ({"stringData": {"token": "secret"}}, []),
        (None, ["SecretNotFound"]),
        ({"data": {"other": "eA=="}}, ["SecretKeyNotFound"]),
        ({}, ["SecretKeyNotFound"]),
    ],
)
def test_check_secret_key(secret: dict[str, Any] | None, reasons: list[str]) -> None:
    ref = SecretKeyRef(name="openai", key="token")
    assert [p.reason for p in check_secret_key(secret, ref, "spec.target.apiKeySecretRef")] == reasons


@pytest.mark.parametrize(
    ("config_map", "reasons"),
    [
        ({"data": {"data.json": "[]"}}, []),
        ({"binaryData": {"data.json": "W10="}}, []),
        (None, ["ConfigMapNotFound"]),
        ({"data": {"other.json": "[]"}}, ["ConfigMapKeyNotFound"]),
    ],
)
def test_check_config_map_key(config_map: dict[str, Any] | None, reasons: list[str]) -> None:
    ref = ConfigMapKeyRef(name="sharegpt", key="data.json")
    problems = check_config_map_key(config_map, ref, "spec.workload.datasetConfigMapRef")
    assert [p.reason for p in problems] == reasons


def test_parse_spec_accepts_a_valid_spec() -> None:
    spec, problems = parse_spec(VALID_SPEC)
    assert problems == []
    assert spec == make_spec()


def test_parse_spec_reports_schema_problems_with_camel_case_paths() -> None:
    raw = merged(VALID_SPEC, {"load": {"levels": "many"}, "loadGenerator": {"parallelism": 0}})
    spec, problems = parse_spec(raw)
    assert spec is None
    assert {p.reason for p in problems} == {"InvalidSpec"}
    assert [p.field for p in problems] == ["spec.load.levels", "spec.loadGenerator.parallelism"]


def test_a_missing_secret_key_never_names_the_secrets_other_keys() -> None:
    ref = SecretKeyRef(name="team-secrets", key="api-key")
    secret = {"data": {"db-password": "eA==", "ssh-private-key": "eA=="}}
    [problem] = check_secret_key(secret, ref, "spec.target.apiKeySecretRef")
    assert "db-password" not in problem.message
    assert "ssh-private-key" not in problem.message
    assert "api-key" in problem.message
