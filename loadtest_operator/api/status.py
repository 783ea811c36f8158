"""`LoadTest.status`: what the operator observed. Measured values may be numbers (floats)."""

from datetime import datetime

from pydantic import Field

from loadtest_operator.api.base import ApiModel
from loadtest_operator.api.conditions import CAPACITY_CONDITIONS, LOADTEST_CONDITIONS
from loadtest_operator.api.enums import ConditionStatus, Phase
from loadtest_operator.api.fingerprint import TargetFingerprint
from loadtest_operator.api.gpu import GpuDiscovery, GpuLevelMetrics, ServerLevelMetrics
from loadtest_operator.api.group import KIND
from loadtest_operator.api.reference import describe_condition_types, describe_conditions
from loadtest_operator.api.validation import LevelValidation, ValidationSummary

CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(ApiModel):
    """One aspect of the object's state, in the metav1.Condition shape."""

    type: str = Field(
        min_length=1,
        max_length=316,
        # Shared by both kinds (api/capacity.py imports this model, so its kind name is spelled here).
        description=describe_condition_types(
            {KIND: LOADTEST_CONDITIONS, "CapacityRecommendation": CAPACITY_CONDITIONS}
        ),
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=CONDITION_REASON_PATTERN,
        description="CamelCase word saying why the condition has this status.",
    )
    message: str = Field(
        default="", max_length=32768, description="Details a person can act on (absent when empty)."
    )
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was set from."
    )


class TargetPod(ApiModel):
    """A pod selected by the target Service."""

    name: str = Field(description="Pod name.")
    node: str | None = Field(default=None, description="Node the pod runs on.")
    gpus: int = Field(default=0, ge=0, description="nvidia.com/gpu requested by the pod's containers.")


class ResolvedTarget(ApiModel):
    """The target as the operator resolved it."""

    display: str | None = Field(
        default=None, description="Short form shown by kubectl get: service/<name>:<port> or the URL."
    )
    service_cluster_ip: str | None = Field(default=None, description="ClusterIP of the target Service.")
    url: str | None = Field(default=None, description="Base URL the load generators call.")
    model: str | None = Field(default=None, description="Model name used in requests.")
    pods: list[TargetPod] | None = Field(default=None, description="Pods behind the target Service.")
    gpu_models: list[str] | None = Field(
        default=None, description="GPU products of the pods' nodes (label nvidia.com/gpu.product)."
    )


class Progress(ApiModel):
    """Progress of a running LoadTest, from the shards' progress reports."""

    completed_requests: int = Field(default=0, ge=0, description="Requests finished so far, all shards.")
    total_requests: int | None = Field(
        default=None, ge=0, description="Requests planned (unknown for level durations)."
    )
    current_level: int | None = Field(default=None, description="Load level being run now.")
    shards_succeeded: int = Field(default=0, ge=0, description="Shards finished successfully.")
    shards_failed: int = Field(default=0, ge=0, description="Shards that failed.")


class LatencySummary(ApiModel):
    """A latency distribution in milliseconds, computed over the merged samples of every shard."""

    p50: float | None = Field(default=None, description="Median, ms.")
    p90: float | None = Field(default=None, description="90th percentile, ms.")
    p99: float | None = Field(default=None, description="99th percentile, ms.")
    mean: float | None = Field(default=None, description="Mean, ms.")


class Goodput(ApiModel):
    """Requests that met every SLO objective."""

    count: int = Field(default=0, ge=0, description="Good requests.")
    per_second: float = Field(default=0.0, ge=0, description="Good requests per second.")
    percent: float = Field(default=0.0, ge=0, le=100, description="Good requests, percent of all.")


class LevelResult(ApiModel):
    """Results of one load level, merged over every shard."""

    level: int = Field(description="The load level (concurrency or requests per second).")
    requests: int = Field(ge=0, description="Requests measured.")
    successes: int = Field(ge=0, description="Requests that completed without error.")
    errors_by_kind: dict[str, int] | None = Field(
        default=None, description="Failed requests by kind (e.g. Timeout, HTTP5xx, Connection)."
    )
    requests_per_second: float = Field(ge=0, description="Completed requests per second.")
    output_tokens_per_second: float = Field(ge=0, description="Generated tokens per second.")
    total_tokens_per_second: float = Field(ge=0, description="Prompt plus generated tokens per second.")
    ttft: LatencySummary | None = Field(default=None, description="Time to first token.")
    tpot: LatencySummary | None = Field(default=None, description="Time per output token.")
    itl: LatencySummary | None = Field(default=None, description="Inter-token latency.")
    e2e: LatencySummary | None = Field(default=None, description="End-to-end request latency.")
    goodput: Goodput | None = Field(default=None, description="Requests meeting the SLO (needs slo).")
    within_slo: bool | None = Field(
        default=None, description="Whether the SLO percentile of every objective was met."
    )
    client_saturated: bool = Field(
        default=False,
        description="The load generator could not keep up (offered load below the level); treat the "
        "level's figures as a lower bound of the server's capacity.",
    )
    start: datetime | None = Field(default=None, description="When the level's measurement started.")
    end: datetime | None = Field(default=None, description="When the level's measurement ended.")
    gpu: GpuLevelMetrics | None = Field(
        default=None, description="What the target's GPUs did in this level (DCGM series from Prometheus)."
    )
    server: ServerLevelMetrics | None = Field(
        default=None, description="What vLLM itself reported in this level (its own Prometheus series)."
    )
    validation: LevelValidation | None = Field(
        default=None, description="The client's figures checked against vLLM's (spec.validation)."
    )


class LoadTestStatus(ApiModel):
    """Observed state of a LoadTest."""

    conditions: list[Condition] | None = Field(
        default=None,
        description=describe_conditions(LOADTEST_CONDITIONS),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation last acted on."
    )
    phase: Phase | None = Field(
        default=None, description="Pending, Rejected, Running, Succeeded or Failed (from conditions)."
    )
    run_id: int | None = Field(default=None, ge=0, description="spec.runId of the run reported here.")
    target: ResolvedTarget | None = Field(default=None, description="The target as resolved.")
    progress: Progress | None = Field(default=None, description="Progress while running.")
    start_time: datetime | None = Field(default=None, description="When the run started.")
    completion_time: datetime | None = Field(default=None, description="When the run finished.")
    levels: list[LevelResult] | None = Field(default=None, description="Per-level results.")
    best_goodput_level: int | None = Field(
        default=None,
        description="Level with the highest goodput per second (highest request rate without an SLO).",
    )
    seed: int | None = Field(
        default=None,
        description="Seed of this run's prompts and arrivals (spec.loadGenerator.seed to repeat it).",
    )
    summary: str | None = Field(default=None, max_length=1024, description="One-line summary of the run.")
    gpu_discovery: GpuDiscovery | None = Field(
        default=None, description="How the target's GPU and vLLM series were found in Prometheus."
    )
    fingerprint: TargetFingerprint | None = Field(
        default=None, description="What the target was: vLLM version, serving options, nodes, GPUs, driver."
    )
    validation: ValidationSummary | None = Field(
        default=None, description="How many of the levels' checks against vLLM's metrics failed."
    )
