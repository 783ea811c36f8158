"""`LoadTest.status`: what the operator observed. Measured values may be numbers (floats)."""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from loadtest_operator.api.base import ApiModel
from loadtest_operator.api.conditions import CAPACITY_CONDITIONS, LOADTEST_CONDITIONS
from loadtest_operator.api.enums import ConditionStatus, LatencyFrom, Phase
from loadtest_operator.api.fingerprint import TargetFingerprint
from loadtest_operator.api.gpu import GpuDiscovery, GpuLevelMetrics, ServerLevelMetrics
from loadtest_operator.api.group import KIND
from loadtest_operator.api.reference import describe_condition_types, describe_conditions
from loadtest_operator.api.validation import LevelValidation, ValidationSummary

CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

# What can grow with the run in a level's status is bounded, so 64 levels stay far below the API
# server's request limits (loadtest/level_status.py folds and cuts to these; sizes measured in
# tests/unit/operator/test_status_size.py).
MAX_ERROR_KINDS = 16
MAX_SATURATION_REASONS = 8
MAX_SATURATION_REASON_LENGTH = 160


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


class LiveProgress(ApiModel):
    """Live figures of the current level over each shard's last ~10 s, merged exactly across shards:
    histograms add (the p50 is within 1 % of the sample of rank round(0.5(n-1)) of all shards' samples),
    rates add. Never an average of the shards' figures."""

    window_seconds: float = Field(
        ge=0, description="Span of the window, s: the earliest start to the latest end."
    )
    requests: int = Field(ge=0, description="Requests finished in the window (errors included), all shards.")
    requests_per_second: float = Field(
        ge=0, description="Requests finished per second: each shard's over its own window, added up."
    )
    ttft_median_milliseconds: float | None = Field(
        default=None, ge=0, description="Median time to first token, ms."
    )
    tpot_median_milliseconds: float | None = Field(
        default=None, ge=0, description="Median time per output token, ms."
    )
    shards: int = Field(ge=0, description="Shards whose windows are merged (those at the current level).")


class Progress(ApiModel):
    """Progress of a running LoadTest, from the shards' progress reports."""

    completed_requests: int = Field(default=0, ge=0, description="Requests finished so far, all shards.")
    total_requests: int | None = Field(
        default=None, ge=0, description="Requests planned (unknown for level durations)."
    )
    current_level: int | None = Field(default=None, description="Load level being run now.")
    shards_succeeded: int = Field(default=0, ge=0, description="Shards finished successfully.")
    shards_failed: int = Field(default=0, ge=0, description="Shards that failed.")
    current_level_index: int | None = Field(
        default=None, ge=0, description="Index of currentLevel in spec.load.levels (0-based)."
    )
    level_completed_requests: int | None = Field(
        default=None, ge=0, description="Requests finished so far in the current level, all shards."
    )
    percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="How far the run is, percent: by requests when requestsPerLevel is set, else by each "
        "level's time; 100 only once it has finished.",
    )
    report_time: datetime | None = Field(
        default=None,
        description="The least recent of the running shards' latest progress reports: every running shard "
        "has reported since then (shards report every ~2 s).",
    )
    stale_shards: list[int] | None = Field(
        default=None,
        description="Running shards whose latest report is older than 15 s; their figures are left out of "
        "live.",
    )
    live: LiveProgress | None = Field(
        default=None,
        description="The current level over the last ~10 s, merged across the shards running it; only "
        "while the run is running.",
    )


class LatencySummary(ApiModel):
    """A latency distribution in milliseconds over the merged samples of every shard, percentiles by
    linear interpolation between closest ranks: exact for TTFT, TPOT and E2E of a run of at most 20,000
    successful requests; otherwise (and always for ITL) from mergeable histograms, within 0.5 % of the
    exact value (or 1 us). Means are exact."""

    p50: float | None = Field(default=None, description="Median, ms.")
    p90: float | None = Field(default=None, description="90th percentile, ms.")
    p95: float | None = Field(default=None, description="95th percentile, ms.")
    p99: float | None = Field(default=None, description="99th percentile, ms.")
    p999: float | None = Field(default=None, description="99.9th percentile, ms.")
    mean: float | None = Field(default=None, description="Mean, ms.")
    count: int | None = Field(default=None, ge=0, description="Samples the figures are computed over.")
    stddev: float | None = Field(
        default=None,
        ge=0,
        description="Sample standard deviation, ms (absent under two samples, and for ITL, kept as a "
        "histogram); the results service's compare tests differences against it.",
    )


class ClientSaturation(ApiModel):
    """How busy the load generator itself was in a level: the figures its clientSaturated verdict is
    drawn from (thresholds in spec.loadGenerator.saturation)."""

    reasons: list[Annotated[str, Field(max_length=MAX_SATURATION_REASON_LENGTH)]] | None = Field(
        default=None,
        max_length=MAX_SATURATION_REASONS,
        description="Why the level is flagged clientSaturated, one line per threshold crossed (e.g. "
        '"event-loop lag p99 31.0 ms > 20 ms", "in-flight cap 256 reached: ..."); absent when it is '
        f"not. At most {MAX_SATURATION_REASONS}, each cut to {MAX_SATURATION_REASON_LENGTH} characters; "
        "a last line says how many more there were.",
    )
    schedule_lag_milliseconds_p99: float | None = Field(
        default=None,
        description="Rate mode: 99th percentile over successful requests of send time minus scheduled "
        "time, ms.",
    )
    loop_lag_milliseconds_p50: float | None = Field(
        default=None,
        description="Median lateness of a 10 ms timer on the load generator's event loop, ms: how long "
        "an arriving byte may wait before it is read (an idle loop shows 0-1 ms).",
    )
    loop_lag_milliseconds_p99: float | None = Field(
        default=None, description="99th percentile of the event-loop lag, ms."
    )
    loop_lag_milliseconds_max: float | None = Field(
        default=None, description="Largest event-loop lag seen, ms."
    )


class Goodput(ApiModel):
    """Requests that met every SLO objective."""

    count: int = Field(default=0, ge=0, description="Good requests.")
    per_second: float = Field(default=0.0, ge=0, description="Good requests per second.")
    percent: float = Field(default=0.0, ge=0, le=100, description="Good requests, percent of all.")


# Turns shown one by one in a level's status; later turns share the last entry.
MAX_TURNS_SHOWN = 8


class TurnLatency(ApiModel):
    """TTFT of the requests that were one turn of their conversation (multi-turn runs), ms."""

    turn: int = Field(
        ge=1,
        description="Turn of the conversation, from 1 (the first human turn); the last entry, turn "
        f"{MAX_TURNS_SHOWN}, holds that turn and every later one.",
    )
    requests: int = Field(ge=0, description="Requests of this turn measured.")
    p50: float | None = Field(default=None, description="Median, ms.")
    p90: float | None = Field(default=None, description="90th percentile, ms.")
    p99: float | None = Field(default=None, description="99th percentile, ms.")
    mean: float | None = Field(default=None, description="Mean, ms.")


class LevelResult(ApiModel):
    """Results of one load level, merged over every shard."""

    level: int = Field(description="The load level (concurrency or requests per second).")
    requests: int = Field(ge=0, description="Requests measured.")
    successes: int = Field(ge=0, description="Requests that completed without error.")
    errors_by_kind: dict[str, int] | None = Field(
        default=None,
        max_length=MAX_ERROR_KINDS,
        description="Failed requests by kind: http_<status> (e.g. http_503), timeout, connection, "
        "malformed_stream, stream_error, response_too_large (docs/metrics.md defines each). At most "
        f"{MAX_ERROR_KINDS} kinds; the rarest beyond that are added up under other.",
    )
    requests_per_second: float = Field(ge=0, description="Completed requests per second.")
    output_tokens_per_second: float = Field(ge=0, description="Generated tokens per second.")
    total_tokens_per_second: float = Field(ge=0, description="Prompt plus generated tokens per second.")
    latency_from: LatencyFrom | None = Field(
        default=None,
        description="Where ttft and e2e start: ScheduledTime in Rate mode (what a user arriving on "
        "schedule sees, queueing behind the in-flight cap included), SendTime in Concurrency mode.",
    )
    ttft: LatencySummary | None = Field(
        default=None,
        description="Time to first token (first content chunk), from the time in latencyFrom; goodput "
        "and withinSlo judge this figure.",
    )
    tpot: LatencySummary | None = Field(
        default=None,
        description="Time per output token after the first: (e2e - ttft) / (output tokens - 1), the "
        "same from either start time.",
    )
    itl: LatencySummary | None = Field(
        default=None, description="Inter-token latency: gaps between content chunks, per token."
    )
    e2e: LatencySummary | None = Field(
        default=None,
        description="End-to-end request latency (last byte of the reply), from the time in latencyFrom; "
        "goodput and withinSlo judge this figure.",
    )
    ttft_from_send: LatencySummary | None = Field(
        default=None,
        description="Rate mode: time to first token from the moment the request was sent, leaving out "
        "the schedule lag (compare with the server's own figures).",
    )
    e2e_from_send: LatencySummary | None = Field(
        default=None,
        description="Rate mode: end-to-end latency from the moment the request was sent, leaving out the "
        "schedule lag.",
    )
    schedule_lag: LatencySummary | None = Field(
        default=None,
        description="Rate mode: how late successful requests were sent, send time minus scheduled time "
        "(waiting for the in-flight cap or a busy client); ttft = ttftFromSend + this, per request.",
    )
    token_mismatches: int = Field(
        default=0,
        ge=0,
        description="Answers of the wrong length: not as long as the request was pinned to, or "
        "(streamed) a usage.completion_tokens below the content chunks seen. Several tokens in one "
        "chunk are no mismatch (ITL is then spread per token).",
    )
    usage_missing: int = Field(
        default=0,
        ge=0,
        description="Successful requests without usage from the server; their output tokens are the "
        "content chunks counted.",
    )
    goodput: Goodput | None = Field(
        default=None,
        description="Requests meeting every SLO objective (needs slo), judged on ttft and e2e as reported "
        "here (from the scheduled time in Rate mode).",
    )
    within_slo: bool | None = Field(
        default=None,
        description="Whether the SLO percentile of every objective was met (ttft and e2e as reported here).",
    )
    client_saturated: bool = Field(
        default=False,
        description="The load generator could not keep up (offered load below the level); treat the "
        "level's figures as a lower bound of the server's capacity.",
    )
    saturation: ClientSaturation | None = Field(
        default=None, description="The load generator's own lags, and why the level is clientSaturated."
    )
    start: datetime | None = Field(default=None, description="When the level's measurement started.")
    end: datetime | None = Field(default=None, description="When the level's measurement ended.")
    achieved_load: float | None = Field(
        default=None,
        ge=0,
        description="The load the target really carried over the level's window, in the level's unit: "
        "time-averaged requests in flight (Concurrency) or requests sent per second (Rate).",
    )
    shard_overlap: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Runs of several shards: the fraction of the level's window during which every shard "
        "that sent requests was running (1: they ran together; below 0.9 sets ShardsAligned=False).",
    )
    shard_start_spread_milliseconds: float | None = Field(
        default=None, ge=0, description="Runs of several shards: latest shard start minus earliest."
    )
    gpu: GpuLevelMetrics | None = Field(
        default=None, description="What the target's GPUs did in this level (DCGM series from Prometheus)."
    )
    server: ServerLevelMetrics | None = Field(
        default=None, description="What vLLM itself reported in this level (its own Prometheus series)."
    )
    ttft_by_turn: list[TurnLatency] | None = Field(
        default=None,
        max_length=MAX_TURNS_SHOWN,
        description="Multi-turn runs (spec.workload.multiTurn), streamed: time to first token by turn, one "
        f"entry per turn, turns from {MAX_TURNS_SHOWN} on together in the last (the status of a 64-level "
        "run stays small). Later turns carry more context; with vLLM's prefix "
        "cache most of it is cached (server.prefixCacheHitPercent).",
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
