"""The CapacityRecommendation API (llmload.io/v1alpha1): how many replicas, GPUs and dollars a peak needs.

A CapacityRecommendation measures the load one deployment holds inside an SLO (by running child LoadTests
at a search of load levels), then sizes its Deployment for a target peak with one documented formula
(see docs/capacity.md). Cross-field rules (exactly one of two, ...) live in
`loadtest_operator.capacity.validation`; no floats in spec: money is a decimal string.
"""

from enum import StrEnum

from pydantic import Field

from loadtest_operator.api import fields
from loadtest_operator.api.base import ApiModel
from loadtest_operator.api.conditions import CAPACITY_CONDITIONS
from loadtest_operator.api.enums import LoadMode
from loadtest_operator.api.reference import describe_conditions
from loadtest_operator.api.spec import (
    LoadGenerator,
    LoadLevel,
    ObjectName,
    Prometheus,
    Slo,
    Target,
    TokenDistribution,
)
from loadtest_operator.api.status import Condition
from loadtest_operator.api.validation import Validation

CAPACITY_KIND = "CapacityRecommendation"
CAPACITY_PLURAL = "capacityrecommendations"
CAPACITY_SINGULAR = "capacityrecommendation"
CAPACITY_SHORT_NAMES = ("caprec", "capreq")

# A non-negative decimal with at most 4 fractional digits, e.g. "2.50"; parsed with decimal.Decimal.
DECIMAL_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,4})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
# The largest load level any search may reach (LoadTest's own limit on a level).
MAX_LEVEL = 100_000


class SearchMode(StrEnum):
    """How load levels are chosen: Auto (exponential ramp, then bisection) or the given Levels."""

    AUTO = "Auto"
    LEVELS = "Levels"


class WorkloadSource(StrEnum):
    """Where the peak and token lengths of a recommendation came from."""

    SPEC = "Spec"
    PROMETHEUS = "Prometheus"


class DeploymentRef(ApiModel):
    """A Deployment in the CapacityRecommendation's namespace."""

    name: ObjectName = Field(description="Name of the Deployment, in this namespace.")


class CapacityTarget(Target):
    """The server to measure (as in a LoadTest) and the Deployment whose replicas are sized."""

    deployment_ref: DeploymentRef = Field(
        description="The Deployment of the vLLM pods behind the target: its ready replicas, GPUs and "
        "--tensor-parallel-size are read, and the recommendation sizes its replicas."
    )


class FromPrometheus(ApiModel):
    """Derive the peak and the token lengths from vLLM's own metrics of the target over a past window."""

    window_seconds: int = Field(
        ge=300,
        le=90 * 86_400,
        description="How far back to look, in seconds (e.g. 604800 for the last week).",
    )
    percentile: int = Field(
        default=95,
        ge=50,
        le=100,
        description="Percentile of the prompt and generation token-length histograms used as the "
        "workload's fixed token counts (e.g. 95 for p95).",
    )
    peak: LoadMode = Field(
        default=LoadMode.CONCURRENCY,
        description="Which peak to derive: Concurrency (running + waiting requests) or Rate "
        "(successful requests per second).",
    )


class CapacityWorkload(ApiModel):
    """The traffic to size for. Set exactly one of peakConcurrency, peakRequestsPerSecond and
    fromPrometheus; inputTokens and outputTokens are required unless fromPrometheus derives them."""

    peak_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Requests in flight at the peak (levels are then concurrencies).",
    )
    peak_requests_per_second: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Requests started per second at the peak (levels are then request rates).",
    )
    input_tokens: TokenDistribution | None = Field(
        default=None, description="Prompt length distribution (overrides fromPrometheus when set)."
    )
    output_tokens: TokenDistribution | None = Field(
        default=None, description="Completion length distribution (overrides fromPrometheus when set)."
    )
    from_prometheus: FromPrometheus | None = Field(
        default=None,
        description="Derive the peak (and unset token lengths) from the target's vLLM metrics.",
    )


class CapacitySlo(Slo):
    """Latency objectives, and the share of requests that must meet all of them for a level to count as
    within SLO."""

    goodput_percent: int = Field(
        default=95,
        ge=1,
        le=100,
        description="A level is within SLO when at least this share of its requests, in percent, meets "
        "every objective, in every repeat.",
    )


class Search(ApiModel):
    """How load levels are searched for the knee (the highest level within SLO)."""

    mode: SearchMode = Field(
        default=SearchMode.AUTO,
        description="Auto: double from startLevel until a level misses the SLO, then bisect to a step "
        "of 1. Levels: measure the given levels in ascending order until one misses.",
    )
    levels: list[LoadLevel] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Levels mode only: the levels, sorted ascending and unique.",
    )
    start_level: int = Field(
        default=1, ge=1, le=MAX_LEVEL, description="Auto mode only: the first level measured."
    )
    max_levels: int = Field(
        default=16,
        ge=1,
        le=64,
        description="Most distinct levels measured; the search ends with the best knee known then.",
    )


class Cost(ApiModel):
    """Price of the GPUs, for the cost estimate."""

    price_per_gpu_hour: str = Field(
        pattern=DECIMAL_PATTERN,
        max_length=20,
        description='Price of one GPU for one hour, as a decimal string (e.g. "2.50"); no floats.',
    )
    currency: str = Field(
        default="USD", pattern=CURRENCY_PATTERN, description="ISO 4217 currency code, e.g. USD."
    )


class CapacityRecommendationSpec(ApiModel):
    """Desired state of a CapacityRecommendation. Changing what is measured (target, token lengths, slo,
    search, level length, repeats, loadGenerator) starts a new search; changing peak, headroom or cost
    only recomputes the recommendation."""

    target: CapacityTarget = Field(description="The server to measure and the Deployment to size.")
    workload: CapacityWorkload = Field(description="The peak to size for and the request shape.")
    slo: CapacitySlo = Field(description="Latency objectives that define the knee.")
    headroom_percent: int = Field(
        default=20,
        ge=0,
        le=1_000,
        description="Extra capacity above the peak, in percent: replicas are sized for "
        "peak * (1 + headroomPercent/100).",
    )
    search: Search = Field(default_factory=Search, description="How load levels are searched.")
    # The level length goes to every child LoadTest unchanged: the same field types as its `load`.
    requests_per_level: fields.RequestsPerLevel = None
    level_duration_seconds: fields.LevelDurationSeconds = None
    repeats: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Times every level is measured; a level is within SLO only if every repeat is, and "
        "the spread of the repeats is reported as an interval.",
    )
    warmup_requests: fields.WarmupRequests = fields.DEFAULT_WARMUP_REQUESTS
    timeout_seconds: fields.RequestTimeoutSeconds = fields.DEFAULT_TIMEOUT_SECONDS
    cost: Cost | None = Field(default=None, description="GPU price, for the cost estimate.")
    load_generator: LoadGenerator = Field(
        default_factory=LoadGenerator, description="The pods that generate load (as in a LoadTest)."
    )
    prometheus: Prometheus | None = Field(
        default=None, description="Prometheus for fromPrometheus. The operator's default if unset."
    )
    validation: Validation = Field(
        default_factory=Validation,
        description="How closely each child LoadTest's figures must agree with vLLM's own (as in a LoadTest).",
    )
    scale_deployment: bool = Field(
        default=False,
        description="When true, the operator sets the Deployment's replicas to the recommendation, at "
        "most maxReplicas (then required), and only where the author may scale it. By default it never "
        "changes the Deployment and only publishes a patch in status.",
    )
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Most replicas scaleDeployment may set (required with it): a recommendation above is "
        "capped, and the Scaled condition says so.",
    )


class ResolvedWorkload(ApiModel):
    """The workload as measured: from the spec, or derived from Prometheus once and then kept."""

    source: WorkloadSource = Field(description="Spec or Prometheus.")
    mode: LoadMode = Field(description="Concurrency or Rate: what the peak and the levels count.")
    peak: int = Field(ge=1, description="The peak sized for (in-flight requests or requests per second).")
    input_tokens: TokenDistribution = Field(description="Prompt lengths used by the measurements.")
    output_tokens: TokenDistribution = Field(description="Completion lengths used by the measurements.")
    queries: list[str] | None = Field(
        default=None, description="PromQL the workload was derived with (fromPrometheus only)."
    )
    derived_at: str | None = Field(
        default=None, description="When the workload was derived (RFC 3339; fromPrometheus only)."
    )


class Interval(ApiModel):
    """The spread of a figure over the repeats of one level (min and max)."""

    min: float = Field(description="Smallest value over the repeats.")
    max: float = Field(description="Largest value over the repeats.")


class MeasuredCapacity(ApiModel):
    """What the deployment holds today, at the knee."""

    gpu_model: str | None = Field(
        default=None, description="GPU product (node label nvidia.com/gpu.product)."
    )
    gpus_per_replica: int | None = Field(
        default=None, ge=0, description="nvidia.com/gpu of one replica's pod (limits, else requests)."
    )
    tensor_parallel_size: int | None = Field(
        default=None, ge=1, description="--tensor-parallel-size of the vLLM container (1 when unset)."
    )
    current_replicas: int | None = Field(
        default=None, ge=0, description="Ready replicas of the Deployment during the measurements."
    )
    knee_level: int | None = Field(
        default=None, description="Highest level within SLO, through the Service, all replicas together."
    )
    knee_is_lower_bound: bool | None = Field(
        default=None,
        description="True when the search stopped before any level missed the SLO (maxLevels, the "
        "highest level, or the last given level): the deployment may hold more.",
    )
    max_concurrency_per_replica_at_slo: float | None = Field(
        default=None, description="Concurrency mode: kneeLevel / currentReplicas."
    )
    max_requests_per_second_per_replica_at_slo: float | None = Field(
        default=None, description="Rate mode: kneeLevel / currentReplicas."
    )
    requests_per_second_at_knee: float | None = Field(
        default=None, description="Completed requests per second at the knee (mean over repeats)."
    )
    output_tokens_per_second_at_knee: float | None = Field(
        default=None, description="Generated tokens per second at the knee (mean over repeats)."
    )
    goodput_percent_at_knee: float | None = Field(
        default=None, description="Share of requests meeting the SLO at the knee (worst repeat)."
    )
    output_tokens_per_second_interval: Interval | None = Field(
        default=None, description="Output tokens per second at the knee over the repeats."
    )
    goodput_percent_interval: Interval | None = Field(
        default=None, description="Goodput percent at the knee over the repeats."
    )
    repeats: int | None = Field(default=None, ge=1, description="Repeats measured at the knee.")
    energy_per_1k_output_tokens_joules: float | None = Field(
        default=None, description="GPU energy per 1,000 generated tokens at the knee (needs GPU metrics)."
    )


class Recommendation(ApiModel):
    """The sizing for the peak, from the measured knee with one formula (docs/capacity.md)."""

    replicas: int = Field(ge=1, description="Recommended Deployment replicas.")
    total_gpus: int = Field(ge=0, description="replicas * gpusPerReplica.")
    tensor_parallel_size: int = Field(ge=1, description="Tensor parallel size the figures hold for.")
    estimated_max_load: float = Field(
        description="Load the recommended replicas hold within SLO: replicas * capacity per replica "
        "(concurrency or requests per second)."
    )
    estimated_output_tokens_per_second_at_peak: float | None = Field(
        default=None, description="Generated tokens per second at the peak, from the knee's throughput."
    )
    estimated_max_output_tokens_per_second: float | None = Field(
        default=None, description="Generated tokens per second at estimatedMaxLoad."
    )
    formula: str = Field(max_length=4096, description="The formula with its numbers.")
    reasoning: str = Field(max_length=8192, description="The recommendation in plain language.")
    cost_per_hour: str | None = Field(
        default=None, description="totalGpus * pricePerGpuHour, rounded to cents (decimal string)."
    )
    cost_per_million_output_tokens: str | None = Field(
        default=None, description="Cost of one million generated tokens at the peak (decimal string)."
    )
    currency: str | None = Field(default=None, description="Currency of the costs.")
    energy_per_1k_tokens_joules: float | None = Field(
        default=None, description="GPU energy per 1,000 generated tokens (when GPU metrics exist)."
    )
    deployment_patch: str = Field(
        description='JSON merge patch of the Deployment, e.g. {"spec":{"replicas":13}}.'
    )
    patch_command: str = Field(description="kubectl command that applies deploymentPatch.")


class SearchTraceEntry(ApiModel):
    """One measured level of the search."""

    level: int = Field(description="The load level.")
    goodput_percent: float | None = Field(
        default=None, description="Share of requests meeting the SLO, worst repeat."
    )
    within_slo: bool | None = Field(
        default=None, description="Whether the level counts as within SLO (unset while measuring)."
    )
    children: list[str] | None = Field(default=None, description="Names of the LoadTests of this level.")


class CapacityRecommendationStatus(ApiModel):
    """Observed state of a CapacityRecommendation."""

    conditions: list[Condition] | None = Field(
        default=None,
        description=describe_conditions(CAPACITY_CONDITIONS),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation last acted on."
    )
    target: str | None = Field(
        default=None, description="Short form of the target: service/<name>:<port> or the URL."
    )
    workload: ResolvedWorkload | None = Field(default=None, description="The workload as measured.")
    measurement: str | None = Field(
        default=None,
        description="Hash of what is measured; children of another hash belong to an older search.",
    )
    measured: MeasuredCapacity | None = Field(default=None, description="What the deployment holds now.")
    recommendation: Recommendation | None = Field(default=None, description="The sizing for the peak.")
    children: list[str] | None = Field(default=None, description="Names of the child LoadTests.")
    search_trace: list[SearchTraceEntry] | None = Field(
        default=None, description="Measured levels, ascending: goodput and verdict."
    )
    summary: str | None = Field(default=None, max_length=1024, description="One-line summary.")
