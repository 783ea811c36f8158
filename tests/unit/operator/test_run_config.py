"""The contract between the CRD and the load generator: every spec becomes a run config loadgen accepts."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.config import build_config
from loadtest_operator.loadtest.builders.job import API_KEY_ENV, DATASET_MOUNT_DIR
from loadtest_operator.loadtest.run_config import build_run_config
from tests.unit.operator.specs import DELETE, make_spec

URL = "http://198.19.0.10:8000"


def test_the_valid_spec_maps_field_by_field() -> None:
    config = build_config(build_run_config(make_spec(), URL, "llama-3-8b"))

    assert config.target_url == URL
    assert config.model == "llama-3-8b"
    assert config.api == "chat"
    assert config.load_mode == "concurrency"
    assert config.levels == [4, 8, 16]
    assert config.requests_per_level == 200
    assert config.request_timeout_seconds == 60
    assert config.workload.input_tokens.distribution == "normal"
    assert (config.workload.input_tokens.mean, config.workload.input_tokens.stddev) == (512, 64)
    assert config.workload.output_tokens == 128
    assert config.slo.ttft_ms == 500
    assert config.slo.tpot_ms == 50
    assert config.slo.percentile == 90


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        ({"load": {"mode": "Rate", "arrival": "Constant", "maxConcurrency": 64, "levels": [5, 10]}},
         lambda c: (c.load_mode, c.arrival, c.max_in_flight) == ("rate", "constant", 64)),
        ({"load": {"requestsPerLevel": DELETE, "levelDurationSeconds": 30}},
         lambda c: (c.requests_per_level, c.level_duration_seconds) == (None, 30)),
        ({"target": {"apiKeySecretRef": {"name": "vllm-key", "key": "token"}}},
         lambda c: c.api_key_env == API_KEY_ENV),
        ({"target": {"api": "Completions"}}, lambda c: c.api == "completions"),
        ({"workload": {"inputTokens": DELETE, "datasetConfigMapRef": {"name": "sharegpt", "key": "data.json"}}},
         lambda c: str(c.workload.dataset_path) == f"{DATASET_MOUNT_DIR}/data.json"),
        ({"workload": {"sharedPrefixTokens": 12}}, lambda c: c.workload.shared_prefix_tokens == 12),
        ({"load": {"warmupRequests": 16}}, lambda c: c.warmup_requests == 16),
        ({"slo": DELETE}, lambda c: (c.slo.ttft_ms, c.slo.tpot_ms, c.slo.e2e_ms) == (None, None, None)),
    ],
)  # fmt: skip
def test_spec_fields_reach_loadgen(patch: dict[str, Any], check: Any) -> None:
    config = build_config(build_run_config(make_spec(patch), URL, None))

    assert check(config)
    assert config.model is None  # loadgen discovers it from /v1/models
