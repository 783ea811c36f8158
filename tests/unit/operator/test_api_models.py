"""The API models: camelCase on the wire, snake_case in Python, constraints enforced."""

from enum import StrEnum
from typing import Any

import pytest
from pydantic import ValidationError

from loadtest_operator.api import (
    Api,
    Arrival,
    Condition,
    ConditionStatus,
    Distribution,
    LoadMode,
    LoadTestConditionType,
    LoadTestSpec,
    LoadTestStatus,
    Phase,
    Placement,
)
from loadtest_operator.api.openapi import structural_schema
from tests.unit.operator.specs import VALID_SPEC, make_spec, merged


def test_spec_parses_camel_case_and_exposes_snake_case() -> None:
    spec = make_spec()
    assert spec.target.service_ref is not None
    assert spec.target.service_ref.port == 8000
    assert spec.load.requests_per_level == 200
    assert spec.load_generator.parallelism == 2


def test_spec_dump_round_trips_through_camel_case() -> None:
    spec = make_spec()
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["load"]["requestsPerLevel"] == 200
    assert "requests_per_level" not in dumped["load"]
    assert LoadTestSpec.model_validate(dumped) == spec


def test_defaults_are_applied() -> None:
    spec = make_spec()
    assert spec.run_id == 0
    assert spec.target.api.value == "Chat"
    assert spec.load.warmup_requests == 0
    assert spec.load_generator.placement is None  # effective default depends on the target kind


@pytest.mark.parametrize(
    ("patch", "location"),
    [
        ({"load": {"levels": []}}, ("load", "levels")),
        ({"load": {"levels": [0, 4]}}, ("load", "levels", 0)),
        ({"load": {"mode": "concurrency"}}, ("load", "mode")),
        ({"target": {"serviceRef": {"name": "Not_A_Name", "port": 80}}}, ("target", "serviceRef", "name")),
        ({"target": {"serviceRef": {"name": "vllm", "port": 70000}}}, ("target", "serviceRef", "port")),
        ({"target": {"url": "ftp://x"}}, ("target", "url")),
        ({"loadGenerator": {"placement": "Nearby"}}, ("loadGenerator", "placement")),
        ({"slo": {"percentile": 40}}, ("slo", "percentile")),
    ],
)
def test_schema_constraints_reject(patch: dict[str, Any], location: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        LoadTestSpec.model_validate(merged(VALID_SPEC, patch))
    assert location in [tuple(e["loc"]) for e in caught.value.errors()]


def _types(schema: dict[str, Any]) -> set[str]:
    found = {schema["type"]} if "type" in schema else set()
    for sub in (schema.get("properties") or {}).values():
        found |= _types(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found |= _types(schema[key])
    return found


def test_spec_has_no_floats() -> None:
    # API convention: integers with the unit in the name. Status may carry measured numbers.
    assert "number" not in _types(structural_schema(LoadTestSpec))
    assert "number" in _types(structural_schema(LoadTestStatus))


@pytest.mark.parametrize(
    "enum", [Api, Arrival, ConditionStatus, LoadTestConditionType, Distribution, LoadMode, Phase, Placement]
)
def test_enums_are_camel_case_words(enum: type[StrEnum]) -> None:
    for member in enum:
        assert member.value[0].isupper(), member
        assert member.value.isalnum(), member


def test_condition_serialises_in_metav1_shape() -> None:
    condition = Condition.model_validate(
        {
            "type": "Accepted",
            "status": "True",
            "reason": "Valid",
            "lastTransitionTime": "2026-11-23T04:00:00Z",
            "observedGeneration": 3,
        }
    )
    assert condition.status is ConditionStatus.TRUE
    assert condition.model_dump(mode="json", by_alias=True) == {
        "type": "Accepted",
        "status": "True",
        "reason": "Valid",
        "message": "",
        "lastTransitionTime": "2026-11-23T04:00:00Z",
        "observedGeneration": 3,
    }


def test_names_with_digits_keep_the_api_spelling() -> None:
    from loadtest_operator.api.base import api_name
    from tests.unit.operator.specs import make_spec

    spec = make_spec({"slo": {"e2eMilliseconds": 2000}})

    assert spec.slo is not None
    assert spec.slo.e2e_milliseconds == 2000
    assert [api_name(n) for n in ("e2e_gap", "joules_per_1k_output_tokens")] == [
        "e2eGap",
        "joulesPer1kOutputTokens",
    ]
