"""Status models for GPU and server-side (vLLM) figures: one `GpuDiscovery` per run, and per level a
`GpuLevelMetrics` and a `ServerLevelMetrics` to sit next to the client's `LevelResult` figures.

They derive from the API's `ApiModel` (camelCase on the wire), so the reconciler can embed them in the
LoadTest status and the CRD generator documents every field for `kubectl explain`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from loadtest_operator.api.base import ApiModel


class MatchedBy(StrEnum):
    """Which labels matched dcgm-exporter's series to the target pods."""

    EXPORTED_POD_LABELS = "ExportedPodLabels"
    POD_LABELS = "PodLabels"
    HOSTNAME = "Hostname"
    NONE = "None"


class GpuMetricsReason(StrEnum):
    """Reasons of the `GpuMetricsAvailable` condition (True only with MetricsCollected)."""

    METRICS_COLLECTED = "MetricsCollected"
    PROMETHEUS_NOT_CONFIGURED = "PrometheusNotConfigured"
    NO_TARGET_PODS = "NoTargetPods"
    PROMETHEUS_UNREACHABLE = "PrometheusUnreachable"
    PROMETHEUS_UNAUTHORIZED = "PrometheusUnauthorized"
    PROMETHEUS_QUERY_FAILED = "PrometheusQueryFailed"
    PROMETHEUS_TOO_SLOW = "PrometheusTooSlow"
    NO_SERIES_MATCHED = "NoSeriesMatched"
    PROMETHEUS_NOT_ALLOWED = "PrometheusNotAllowed"


class EnergySource(StrEnum):
    ENERGY_COUNTER = "EnergyCounter"
    POWER_INTEGRAL = "PowerIntegral"


class GpuDiscovery(ApiModel):
    """How the run's GPU and vLLM series were found in Prometheus."""

    available: bool = Field(
        description="Whether GPU figures could be collected (the GpuMetricsAvailable status)."
    )
    reason: GpuMetricsReason = Field(description="CamelCase reason for the GpuMetricsAvailable condition.")
    message: str = Field(default="", description="What was tried and what was found, for a person.")
    matched_by: MatchedBy = Field(
        default=MatchedBy.NONE,
        description="Which labels tied the DCGM series to the target pods: ExportedPodLabels "
        "(exported_namespace/exported_pod), PodLabels (namespace/pod), Hostname (the pods' nodes), or None.",
    )
    query: str | None = Field(default=None, description="The DCGM series selector that matched.")
    queries_tried: list[str] | None = Field(
        default=None, description="Every DCGM series selector tried, in order (set when none matched)."
    )
    gpu_models: list[str] | None = Field(default=None, description="GPU products (dcgm-exporter modelName).")
    driver_versions: list[str] | None = Field(
        default=None, description="NVIDIA driver versions (dcgm-exporter's DCGM_FI_DRIVER_VERSION label)."
    )
    gpu_count: int = Field(default=0, ge=0, description="Distinct GPUs (UUIDs) matched.")
    server_pods: list[str] | None = Field(
        default=None, description="Target pods whose vLLM metrics were found in Prometheus."
    )
    server_model_names: list[str] | None = Field(
        default=None, description="Models the vLLM series report (label model_name)."
    )


class GpuLevelMetrics(ApiModel):
    """What the target's GPUs did during one load level (DCGM series over the level's window)."""

    gpu_count: int = Field(ge=0, description="GPUs with samples in this level's window.")
    utilization_percent_mean: float | None = Field(
        default=None, description="GPU utilization, percent: time average per GPU, averaged over GPUs."
    )
    utilization_percent_max: float | None = Field(
        default=None, description="Highest GPU utilization sample of any GPU, percent."
    )
    memory_used_mib_mean: float | None = Field(
        default=None, description="Framebuffer memory used, MiB: time average per GPU, averaged over GPUs."
    )
    memory_used_mib_max: float | None = Field(
        default=None, description="Highest framebuffer memory used of any GPU, MiB."
    )
    memory_free_mib_min: float | None = Field(
        default=None, description="Lowest framebuffer memory free of any GPU, MiB (the tightest headroom)."
    )
    power_watts_mean: float | None = Field(
        default=None, description="Power draw, W: time average per GPU, averaged over GPUs."
    )
    power_watts_max: float | None = Field(default=None, description="Highest power sample of any GPU, W.")
    power_watts_total_mean: float | None = Field(
        default=None, description="Power draw of all GPUs together, time average, W."
    )
    energy_joules: float | None = Field(
        default=None, description="Energy all GPUs drew during the level, J (idle draw included)."
    )
    energy_source: EnergySource | None = Field(
        default=None,
        description="EnergyCounter (increase of DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION) or PowerIntegral "
        "(mean power times duration, where the counter is missing).",
    )
    sm_active_ratio_mean: float | None = Field(
        default=None, description="DCGM_FI_PROF_SM_ACTIVE, 0..1, averaged (absent without profiling metrics)."
    )
    tensor_active_ratio_mean: float | None = Field(
        default=None, description="DCGM_FI_PROF_PIPE_TENSOR_ACTIVE, 0..1, averaged (when present)."
    )
    dram_active_ratio_mean: float | None = Field(
        default=None, description="DCGM_FI_PROF_DRAM_ACTIVE, 0..1, averaged (when present)."
    )
    output_tokens_per_joule: float | None = Field(
        default=None, description="Generated tokens (client count) per joule of GPU energy."
    )
    joules_per_1k_output_tokens: float | None = Field(
        default=None, description="GPU energy per 1,000 generated tokens, J."
    )


class ServerLatency(ApiModel):
    """A latency distribution vLLM reported (its own histogram over the window), ms."""

    p50: float | None = Field(default=None, description="Median, ms (interpolated within histogram buckets).")
    p90: float | None = Field(default=None, description="90th percentile, ms (bucket-interpolated).")
    p99: float | None = Field(default=None, description="99th percentile, ms (bucket-interpolated).")
    mean: float | None = Field(default=None, description="Mean, ms (exact: histogram sum over count).")


class LatencyGap(ApiModel):
    """Server-side against client-side latency of one level."""

    server_ms: float = Field(description="Mean the server reported, ms.")
    client_ms: float = Field(description="Mean the load generator measured, ms.")
    gap_ms: float = Field(description="Client minus server, ms (network, client queueing, proxies).")
    gap_percent: float = Field(description="The gap relative to the client's figure, percent.")
    exceeds_tolerance: bool = Field(
        description="The gap is over both the relative and the absolute tolerance: the client or the "
        "network is part of what was measured."
    )


class ServerLevelMetrics(ApiModel):
    """What vLLM itself reported during one load level (its metrics over the level's window)."""

    requests_running_mean: float | None = Field(
        default=None, description="Requests in the running batch, time average, summed over pods."
    )
    requests_running_max: float | None = Field(
        default=None, description="Most requests running on any one pod at a scrape."
    )
    requests_waiting_mean: float | None = Field(
        default=None, description="Requests queued, time average, summed over pods."
    )
    requests_waiting_max: float | None = Field(
        default=None, description="Most requests queued on any one pod at a scrape."
    )
    kv_cache_usage_percent_mean: float | None = Field(
        default=None, description="KV-cache usage, percent, time average over pods."
    )
    kv_cache_usage_percent_max: float | None = Field(
        default=None, description="Highest KV-cache usage of any pod, percent."
    )
    preemptions: float | None = Field(
        default=None, ge=0, description="Preemptions during the level (counter increase, all pods)."
    )
    requests: float | None = Field(
        default=None, ge=0, description="Requests vLLM finished during the level (e2e histogram count)."
    )
    ttft: ServerLatency | None = Field(default=None, description="vLLM's time to first token.")
    e2e: ServerLatency | None = Field(default=None, description="vLLM's end-to-end request latency.")
    ttft_gap: LatencyGap | None = Field(default=None, description="Server against client TTFT.")
    e2e_gap: LatencyGap | None = Field(default=None, description="Server against client end-to-end latency.")
    client_gap_exceeded: bool = Field(
        default=False, description="Whether the TTFT or the end-to-end gap exceeds the tolerance."
    )
    prefix_cache_queried_tokens: float | None = Field(
        default=None,
        ge=0,
        description="Prompt tokens vLLM looked up in its prefix cache during the level (increase of "
        "vllm:prefix_cache_queries_total, all pods; absent before vLLM V1).",
    )
    prefix_cache_hit_tokens: float | None = Field(
        default=None,
        ge=0,
        description="Of those, tokens found cached, so not computed again (vllm:prefix_cache_hits_total).",
    )
    prefix_cache_hit_percent: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Hit tokens over queried tokens, percent; with a V0 engine, its own hit-rate gauge "
        "(vllm:gpu_prefix_cache_hit_rate) averaged over the level. Rises with the turns of a multi-turn "
        "workload and with sharedPrefixTokens.",
    )
