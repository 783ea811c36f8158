"""The seam between the CRD and the load generator: a spec becomes loadgen's own RunConfig, every field
of which is set from the spec (or by the operator's choice) unless it is written down as left to loadgen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from loadgen.cli import _build_parser, config_from_args
from loadgen.config import RunConfig, Slo, Workload
from loadtest_operator.api import LoadTestSpec
from loadtest_operator.api.spec import DATASET_OUTPUT_TOKENS
from loadtest_operator.loadtest.builders.job import API_KEY_ENV, DATASET_MOUNT_DIR
from loadtest_operator.loadtest.run_config import (
    FROM_SPEC,
    LEFT_TO_LOADGEN,
    OPERATOR_CHOICES,
    build_run_config,
    render_run_config,
    spec_field,
)
from loadtest_operator.loadtest.validation import validate_spec
from tests.unit.operator.specs import DELETE, make_spec

URL = "http://198.19.0.10:8000"
DATASET = {"inputTokens": DELETE, "datasetConfigMapRef": {"name": "sharegpt", "key": "data.json"}}

# The fields of RunConfig, Workload and Slo are each decided on their own; other nested models (the
# saturation thresholds, the input-token distribution) are decided as a whole.
_NESTED = (Workload, Slo)


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        kind = info.annotation
        if kind in _NESTED:
            assert isinstance(kind, type)
            out |= _paths(kind, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def _set_paths(model: BaseModel, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, _NESTED):
            out |= _set_paths(value, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def test_every_run_config_field_has_a_source_written_down() -> None:
    sources = [set(FROM_SPEC), set(OPERATOR_CHOICES), set(LEFT_TO_LOADGEN)]
    assert set.union(*sources) == _paths(RunConfig)  # nothing missing, nothing stale
    assert sum(map(len, sources)) == len(set.union(*sources))  # each field in one table only
    assert all(reason for reason in [*OPERATOR_CHOICES.values(), *LEFT_TO_LOADGEN.values()])


SPECS: list[tuple[str, dict[str, Any]]] = [
    ("synthetic", {}),
    ("rate mode", {"load": {"mode": "Rate", "arrival": "Constant", "maxConcurrency": 64, "levels": [5, 10]}}),
    ("rate mode, arrival unset", {"load": {"mode": "Rate", "levels": [5, 10]}}),
    ("duration", {"load": {"requestsPerLevel": DELETE, "levelDurationSeconds": 30}}),
    ("no slo", {"slo": DELETE}),
    ("api key", {"target": {"apiKeySecretRef": {"name": "vllm-key", "key": "token"}}}),
    ("dataset", {"workload": DATASET}),
    ("dataset, no output", {"workload": {**DATASET, "outputTokens": DELETE}}),
]  # fmt: skip


@pytest.mark.parametrize("patch", [s[1] for s in SPECS], ids=[s[0] for s in SPECS])
def test_loadgen_defaults_decide_nothing_the_spec_says(patch: dict[str, Any]) -> None:
    spec = make_spec(patch)
    assert validate_spec(spec) == []
    set_paths = _set_paths(build_run_config(spec, URL, "llama-3-8b"))
    decided = set(FROM_SPEC) | set(OPERATOR_CHOICES)
    if spec.workload.input_tokens is None:  # a dataset: no prompt length is drawn
        decided.discard("workload.input_tokens")
    assert set_paths == decided
    assert not set_paths & set(LEFT_TO_LOADGEN)


def test_the_valid_spec_maps_field_by_field() -> None:
    config = build_run_config(make_spec(), URL, "llama-3-8b")

    assert isinstance(config, RunConfig)
    assert config.target_url == URL
    assert config.model == "llama-3-8b"
    assert config.api == "chat"
    assert config.stream is True
    assert config.load_mode == "concurrency"
    assert config.levels == [4, 8, 16]
    assert config.requests_per_level == 200
    assert config.level_duration_seconds is None
    assert config.request_timeout_seconds == 60
    assert config.api_key_env is None
    tokens = config.workload.input_tokens
    assert (tokens.distribution, tokens.mean, tokens.stddev, tokens.min, tokens.max) == (
        "normal",
        512,
        64,
        16,
        1024,
    )
    assert config.workload.output_tokens == 128
    assert config.workload.pin_output_length is True
    assert (config.slo.ttft_ms, config.slo.tpot_ms, config.slo.e2e_ms, config.slo.percentile) == (
        500,
        50,
        None,
        90,
    )


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        ({"load": {"mode": "Rate", "arrival": "Constant", "maxConcurrency": 64, "levels": [5, 10]}},
         lambda c: (c.load_mode, c.arrival, c.max_in_flight) == ("rate", "constant", 64)),
        ({"load": {"mode": "Rate", "levels": [5, 10]}}, lambda c: c.arrival == "poisson"),  # the CRD's default
        ({"load": {"requestsPerLevel": DELETE, "levelDurationSeconds": 30}},
         lambda c: (c.requests_per_level, c.level_duration_seconds) == (None, 30)),
        ({"target": {"apiKeySecretRef": {"name": "vllm-key", "key": "token"}}},
         lambda c: c.api_key_env == API_KEY_ENV),
        ({"target": {"api": "Completions"}}, lambda c: c.api == "completions"),
        ({"workload": DATASET}, lambda c: str(c.workload.dataset_path) == f"{DATASET_MOUNT_DIR}/data.json"),
        ({"workload": {**DATASET, "outputTokens": DELETE}},
         lambda c: c.workload.output_tokens == DATASET_OUTPUT_TOKENS),
        ({"workload": {"sharedPrefixTokens": 12}}, lambda c: c.workload.shared_prefix_tokens == 12),
        ({"workload": {"stream": False}, "slo": {"ttftMilliseconds": DELETE, "tpotMilliseconds": DELETE,
                                                 "e2eMilliseconds": 900}},
         lambda c: c.stream is False),
        ({"workload": {"outputTokens": {"distribution": "Normal", "mean": 100, "stddev": 20, "max": 150}}},
         lambda c: (c.workload.output_tokens.distribution, c.workload.output_tokens.mean,
                    c.workload.output_tokens.stddev, c.workload.output_tokens.max, c.workload.output_tokens.min)
         == ("normal", 100, 20, 150, None)),
        ({"workload": {"outputTokens": {"distribution": "Uniform", "mean": None, "min": 8, "max": 64}}},
         lambda c: (c.workload.output_tokens.min, c.workload.largest_output_tokens()) == (8, 64)),
        ({"workload": {**DATASET, "outputTokens": DELETE, "datasetOutputTokens": True}},
         lambda c: (c.workload.dataset_output_tokens, c.workload.pin_output_length) == (True, True)),
        ({"workload": {**DATASET, "outputTokens": DELETE, "multiTurn": {}}},
         lambda c: (c.workload.max_turns, c.api) == (8, "chat")),
        ({"workload": {**DATASET, "outputTokens": DELETE, "multiTurn": {"maxTurns": 3}}},
         lambda c: c.workload.max_turns == 3),
        ({"workload": {"inputTokens": {"distribution": "Uniform", "mean": None, "stddev": None}}},
         lambda c: (c.workload.input_tokens.min, c.workload.input_tokens.mean) == (16, None)),
        ({"load": {"warmupRequests": 16}}, lambda c: c.warmup_requests == 16),
        ({"load": {"timeoutSeconds": DELETE}}, lambda c: c.request_timeout_seconds == 120),  # not loadgen's 600
        ({"slo": DELETE}, lambda c: (c.slo.ttft_ms, c.slo.tpot_ms, c.slo.e2e_ms) == (None, None, None)),
        ({"slo": DELETE}, lambda c: c.slo.percentile == 90),  # the CRD's default, not loadgen's 99
        ({"target": {"api": DELETE}}, lambda c: c.api == "chat"),  # the CRD's default, not loadgen's
    ],
)  # fmt: skip
def test_spec_fields_reach_loadgen(patch: dict[str, Any], check: Any) -> None:
    spec = make_spec(patch)
    assert validate_spec(spec) == []
    config = build_run_config(spec, URL, None)

    assert check(config)
    assert config.model is None  # loadgen discovers it from /v1/models


@pytest.mark.parametrize("patch", [s[1] for s in SPECS], ids=[s[0] for s in SPECS])
def test_the_rendered_config_is_what_loadgen_run_reads(patch: dict[str, Any], tmp_path: Path) -> None:
    spec = make_spec(patch)
    path = tmp_path / "run-config.json"  # the name the Job mounts it under
    path.write_text(render_run_config(spec, URL, "llama-3-8b"))
    args = _build_parser().parse_args(
        ["run", "--config", str(path), "--shard-index", "1", "--shard-count", "2"]
    )

    read = config_from_args(args)

    built = build_run_config(spec, URL, "llama-3-8b")
    assert read == built.model_copy(update={"shard_index": 1, "shard_count": 2})
    assert not set(json.loads(path.read_text())) & set(LEFT_TO_LOADGEN)  # left to loadgen: not written


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("workload", "input_tokens", "mean"), "spec.workload.inputTokens"),
        (("workload", "input_tokens"), "spec.workload.inputTokens"),
        (("workload",), "spec.workload"),
        (("request_timeout_seconds",), "spec.load.timeoutSeconds"),
        (("slo", "percentile"), "spec.slo.percentile"),
        (("slo",), "spec.slo"),
        ((), "spec"),
        (("seed",), "spec.loadGenerator.seed"),
        (("shard_index",), "spec"),
    ],
)
def test_loadgen_error_locations_name_the_spec_field(loc: tuple[str, ...], field: str) -> None:
    assert spec_field(loc) == field


def test_every_spec_field_named_exists() -> None:
    camel = json.dumps(LoadTestSpec.model_json_schema(by_alias=True))
    for path in FROM_SPEC.values():
        assert f'"{path.rsplit(".", 1)[-1]}"' in camel, path
