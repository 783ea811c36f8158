"""LoadTest spec -> loadgen's run config: the one typed seam between the CRD and the load generator.

`build_run_config` returns loadgen's own `RunConfig`, validated by loadgen's own rules, and sets every
field the spec (or the operator's API promise) determines, so loadgen's defaults decide nothing a LoadTest
said: its defaults differ from the CRD's (api completions vs Chat, a 600 s vs 120 s timeout, p99 vs p90).
Where each field comes from is written down below, field by field, and a test holds every RunConfig field
to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadgen import config as loadgen
from loadtest_operator.api import Api, Arrival, Distribution, LoadMode, LoadTestSpec, Slo, TokenDistribution
from loadtest_operator.api.spec import DATASET_OUTPUT_TOKENS, DEFAULT_ARRIVAL
from loadtest_operator.loadtest.builders.job import API_KEY_ENV, DATASET_MOUNT_DIR

# RunConfig field (dotted path) -> the spec field that sets it, as a user writes it.
FROM_SPEC: dict[str, str] = {
    "target_url": "spec.target",
    "model": "spec.target.model",
    "api": "spec.target.api",
    "api_key_env": "spec.target.apiKeySecretRef",
    "load_mode": "spec.load.mode",
    "levels": "spec.load.levels",
    "arrival": "spec.load.arrival",
    "max_in_flight": "spec.load.maxConcurrency",
    "requests_per_level": "spec.load.requestsPerLevel",
    "level_duration_seconds": "spec.load.levelDurationSeconds",
    "warmup_requests": "spec.load.warmupRequests",
    "request_timeout_seconds": "spec.load.timeoutSeconds",
    "slo.ttft_ms": "spec.slo.ttftMilliseconds",
    "slo.tpot_ms": "spec.slo.tpotMilliseconds",
    "slo.e2e_ms": "spec.slo.e2eMilliseconds",
    "slo.percentile": "spec.slo.percentile",
    "workload.input_tokens": "spec.workload.inputTokens",  # unset with a dataset: nothing is drawn
    "stream": "spec.workload.stream",
    "workload.output_tokens": "spec.workload.outputTokens",
    "workload.dataset_path": "spec.workload.datasetConfigMapRef",
    "workload.dataset_output_tokens": "spec.workload.datasetOutputTokens",
    "workload.max_turns": "spec.workload.multiTurn",
    "workload.shared_prefix_tokens": "spec.workload.sharedPrefixTokens",
    "ramp_up_seconds": "spec.load.rampUpSeconds",
    "seed": "spec.loadGenerator.seed",  # when unset, the run's own (status.seed)
    "saturation": "spec.loadGenerator.saturation",
}
# RunConfig field -> why the operator sets it the same way for every LoadTest.
OPERATOR_CHOICES: dict[str, str] = {
    "workload.pin_output_length": "outputTokens promises answers of the drawn length (max_tokens with "
    "vLLM's min_tokens and ignore_eos), and datasetOutputTokens the dataset's",
    "workload.calibrate": "the spec counts server tokens, so prompt lengths are fitted to the tokenizer",
}
# RunConfig field -> why loadgen's default is the right value and the spec has no say.
LEFT_TO_LOADGEN: dict[str, str] = {
    "api_key_file": "the key reaches the pod in the environment variable named by api_key_env, never a file",
    "response_limits": "loadgen's bounds on one response's size, derived from outputTokens and far above "
    "what vLLM sends; the CRD does not tune them",
    "shard_index": "set per shard on the Job's command line (--shard-index)",
    "shard_count": "set per shard on the Job's command line (--shard-count)",
}
# A placeholder for the target, for validating a spec before the target is resolved: loadgen only checks
# that a URL has a scheme, and the real one (a Service's ClusterIP or spec.target.url) always has.
VALIDATION_URL = "http://127.0.0.1:8000"

_API: dict[Api, loadgen.Api] = {Api.CHAT: "chat", Api.COMPLETIONS: "completions"}
_MODE: dict[LoadMode, loadgen.LoadMode] = {LoadMode.CONCURRENCY: "concurrency", LoadMode.RATE: "rate"}
_ARRIVAL: dict[Arrival, loadgen.Arrival] = {Arrival.CONSTANT: "constant", Arrival.POISSON: "poisson"}
_DISTRIBUTION: dict[Distribution, loadgen.Distribution] = {
    Distribution.FIXED: "fixed",
    Distribution.UNIFORM: "uniform",
    Distribution.NORMAL: "normal",
}
# Error locations above any field FROM_SPEC names (a model's own rule): the spec section they check.
_SECTIONS = {"workload": "spec.workload", "slo": "spec.slo"}


def _input_tokens(dist: TokenDistribution) -> dict[str, Any]:
    # The parameters as written (loadgen applies the same rules: loadgen.distribution); unset ones are
    # left out, so the rendered config names only what the spec says.
    parameters = {"mean": dist.mean, "min": dist.min, "max": dist.max, "stddev": dist.stddev}
    return {
        "distribution": _DISTRIBUTION[dist.distribution],
        **{name: value for name, value in parameters.items() if value is not None},
    }


def _output_tokens(spec: LoadTestSpec) -> int | dict[str, Any]:
    output = spec.workload.output_tokens
    if output is None:  # only with a dataset (validation requires it for synthetic prompts)
        return DATASET_OUTPUT_TOKENS
    if output.distribution is Distribution.FIXED and output.mean is not None:
        return output.mean  # one length: the run config's plain number
    return _input_tokens(output)  # a distribution, drawn per request (the same rules: loadgen's)


def _saturation(spec: LoadTestSpec) -> dict[str, float]:
    given = spec.load_generator.saturation
    if given is None:
        return {}
    thresholds = {
        "schedule_lag_p99_ms": given.schedule_lag_milliseconds_p99,
        "loop_lag_p50_ms": given.loop_lag_milliseconds_p50,
        "loop_lag_p99_ms": given.loop_lag_milliseconds_p99,
    }
    return {name: float(value) for name, value in thresholds.items() if value is not None}


def build_run_config(spec: LoadTestSpec, target_url: str, model: str | None) -> loadgen.RunConfig:
    """loadgen's RunConfig for `spec`, validated by loadgen's own rules.

    Raises loadgen's ValidationError when loadgen refuses the result (`check_run_config` reports that as
    problems; the nested parts go in as data, so an error's location is its full RunConfig path). Shard index and count stay at one shard: every
    Job passes its own on the command line."""
    load, workload = spec.load, spec.workload
    slo = spec.slo or Slo()
    dataset = workload.dataset_config_map_ref
    # With a dataset no prompt length is drawn, so input_tokens stays loadgen's (unused) default.
    tokens = {"input_tokens": _input_tokens(workload.input_tokens)} if workload.input_tokens else {}
    return loadgen.RunConfig(
        target_url=target_url,
        model=model,
        api=_API[spec.target.api],
        stream=workload.stream,
        api_key_env=API_KEY_ENV if spec.target.api_key_secret_ref is not None else None,
        load_mode=_MODE[load.mode],
        levels=list(load.levels),
        arrival=_ARRIVAL[load.arrival or DEFAULT_ARRIVAL],
        max_in_flight=load.max_concurrency,
        requests_per_level=load.requests_per_level,
        level_duration_seconds=load.level_duration_seconds,
        warmup_requests=load.warmup_requests,
        request_timeout_seconds=load.timeout_seconds,
        ramp_up_seconds=float(load.ramp_up_seconds or 0),
        seed=spec.load_generator.seed or 0,
        saturation=_saturation(spec),
        slo={
            "ttft_ms": slo.ttft_milliseconds,
            "tpot_ms": slo.tpot_milliseconds,
            "e2e_ms": slo.e2e_milliseconds,
            "percentile": slo.percentile,
        },
        workload={
            **tokens,
            "output_tokens": _output_tokens(spec),
            "dataset_path": Path(DATASET_MOUNT_DIR, dataset.key) if dataset is not None else None,
            "dataset_output_tokens": workload.dataset_output_tokens,
            "max_turns": workload.multi_turn.max_turns if workload.multi_turn is not None else None,
            "shared_prefix_tokens": workload.shared_prefix_tokens,
            "pin_output_length": True,
            "calibrate": True,
        },
    )


def render_run_config(spec: LoadTestSpec, target_url: str, model: str | None) -> str:
    """The run config as the JSON text the shards' ConfigMap carries (`loadgen run --config` reads it).

    Only the fields set here are written: what is left to loadgen stays loadgen's call, also for a
    load-generator image of another version."""
    return build_run_config(spec, target_url, model).model_dump_json(indent=1, exclude_unset=True)


def spec_field(loc: Sequence[int | str]) -> str:
    """The spec field behind a RunConfig error location, e.g. ("workload", "input_tokens", "mean") ->
    spec.workload.inputTokens (the longest RunConfig path with a spec field; "spec" when none has)."""
    parts = [str(part) for part in loc]
    for end in range(len(parts), 0, -1):
        path = ".".join(parts[:end])
        if path in FROM_SPEC:
            return FROM_SPEC[path]
    return _SECTIONS.get(parts[0], "spec") if parts else "spec"
