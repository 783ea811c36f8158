"""LoadTest spec → loadgen's run config: the one translation between the CRD and the load generator."""

from __future__ import annotations

import json
from typing import Any

from loadtest_operator.api import LoadTestSpec, TokenDistribution
from loadtest_operator.loadtest.builders.job import API_KEY_ENV, DATASET_MOUNT_DIR


def _tokens(dist: TokenDistribution) -> dict[str, Any]:
    out: dict[str, Any] = {"distribution": dist.distribution.value.lower()}
    if dist.mean is not None:
        out["mean"] = dist.mean
    if dist.min is not None:
        out["min"] = dist.min
    if dist.max is not None:
        out["max"] = dist.max
    if dist.stddev is not None:
        out["stddev"] = dist.stddev
    return out


def build_run_config(spec: LoadTestSpec, target_url: str, model: str | None) -> dict[str, Any]:
    """loadgen's RunConfig as data. Shard index and count are passed on the command line."""
    load = spec.load
    workload: dict[str, Any] = {"shared_prefix_tokens": spec.workload.shared_prefix_tokens}
    if spec.workload.input_tokens is not None:
        workload["input_tokens"] = _tokens(spec.workload.input_tokens)
    if spec.workload.output_tokens is not None:
        output = _tokens(spec.workload.output_tokens)
        # loadgen pins a fixed length as a plain integer; other shapes go over as a distribution.
        workload["output_tokens"] = output["mean"] if output["distribution"] == "fixed" else output
    if spec.workload.dataset_config_map_ref is not None:
        workload["dataset_path"] = f"{DATASET_MOUNT_DIR}/{spec.workload.dataset_config_map_ref.key}"
    config: dict[str, Any] = {
        "target_url": target_url,
        "api": spec.target.api.value.lower(),
        "load_mode": load.mode.value.lower(),
        "levels": list(load.levels),
        "warmup_requests": load.warmup_requests,
        "request_timeout_seconds": load.timeout_seconds,
        "workload": workload,
    }
    if model:
        config["model"] = model
    if spec.target.api_key_secret_ref is not None:
        config["api_key_env"] = API_KEY_ENV
    if load.arrival is not None:
        config["arrival"] = load.arrival.value.lower()
    if load.max_concurrency is not None:
        config["max_in_flight"] = load.max_concurrency
    if load.requests_per_level is not None:
        config["requests_per_level"] = load.requests_per_level
    if load.level_duration_seconds is not None:
        config["level_duration_seconds"] = load.level_duration_seconds
    if spec.slo is not None:
        slo = spec.slo
        config["slo"] = {
            key: value
            for key, value in (
                ("ttft_ms", slo.ttft_milliseconds),
                ("tpot_ms", slo.tpot_milliseconds),
                ("e2e_ms", slo.e2e_milliseconds),
                ("percentile", slo.percentile),
            )
            if value is not None
        }
    return config


def render_run_config(spec: LoadTestSpec, target_url: str, model: str | None) -> str:
    """The run config as the JSON text the shards' ConfigMap carries."""
    return json.dumps(build_run_config(spec, target_url, model), indent=1)
