"""`LoadTest.spec`: what the user asks for.

Rules the CRD schema can express (types, enums, ranges, required fields) live here as pydantic constraints
and end up in the generated CRD. Rules across fields (exactly one of two, levels sorted, ...) cannot be
expressed in a Kubernetes 1.20 structural schema; they live in `loadtest_operator.loadtest.validation`.
No floats: integers carry their unit in the name.
"""

from typing import Annotated

from pydantic import Field

from loadtest_operator.api.base import ApiModel
from loadtest_operator.api.enums import Api, Arrival, Distribution, LoadMode, Placement
from loadtest_operator.api.fields import (
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_WARMUP_REQUESTS,
    LevelDurationSeconds,
    RequestsPerLevel,
    RequestTimeoutSeconds,
    WarmupRequests,
)
from loadtest_operator.api.validation import Validation

# DNS-1035 label: what a Service name must be.
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# DNS-1123 subdomain: what Secret and ConfigMap names must be.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Keys of Secret and ConfigMap data.
DATA_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"

ServiceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
DataKey = Annotated[str, Field(min_length=1, max_length=253, pattern=DATA_KEY_PATTERN)]
Quantity = int | str

# Rate mode's arrival process when spec.load.arrival is unset.
DEFAULT_ARRIVAL = Arrival.POISSON
# The answer length with a dataset, no outputTokens and no datasetOutputTokens.
DATASET_OUTPUT_TOKENS = 128
DEFAULT_MAX_TURNS = 8


class ServiceRef(ApiModel):
    """A Service in the LoadTest's namespace that fronts the vLLM pods."""

    name: ServiceName = Field(description="Name of the Service, in the LoadTest's namespace.")
    port: int = Field(ge=1, le=65535, description="The Service port (its `port`, not the targetPort).")


class SecretKeyRef(ApiModel):
    """A key in a Secret in the LoadTest's namespace."""

    name: ObjectName = Field(description="Name of the Secret, in the LoadTest's namespace.")
    key: DataKey = Field(description="Key inside the Secret's data.")


class ConfigMapKeyRef(ApiModel):
    """A key in a ConfigMap in the LoadTest's namespace."""

    name: ObjectName = Field(description="Name of the ConfigMap, in the LoadTest's namespace.")
    key: DataKey = Field(description="Key inside the ConfigMap's data or binaryData.")


class Target(ApiModel):
    """The OpenAI-compatible server under test. Set exactly one of serviceRef and url."""

    service_ref: ServiceRef | None = Field(
        default=None,
        description="A Service in this namespace. Its pods are discovered through its selector, and "
        "load generators are placed next to them.",
    )
    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Base URL of the server, e.g. http://vllm.example:8000 (without /v1). Use serviceRef "
        "instead when the server runs in this cluster, so pods, nodes and GPUs can be resolved.",
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Model name sent in every request. When unset, the first model listed by /v1/models.",
    )
    api: Api = Field(default=Api.CHAT, description="Endpoint to call: Chat or Completions.")
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the API key, sent as a bearer token. Never put a key inline.",
    )


class TokenDistribution(ApiModel):
    """A distribution of token counts. Fixed uses mean; Uniform uses min and max; Normal uses mean and
    stddev, clipped to [min, max] when those are set."""

    distribution: Distribution = Field(
        default=Distribution.FIXED, description="Shape of the distribution: Fixed, Uniform or Normal."
    )
    mean: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Mean token count (Fixed: the exact count)."
    )
    min: int | None = Field(default=None, ge=1, le=1_000_000, description="Smallest token count.")
    max: int | None = Field(default=None, ge=1, le=1_000_000, description="Largest token count.")
    stddev: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Standard deviation in tokens (Normal only)."
    )


class MultiTurn(ApiModel):
    """Whole conversations from the dataset, turn by turn, as a chat user has them."""

    max_turns: int = Field(
        default=DEFAULT_MAX_TURNS,
        ge=1,
        le=32,
        description="Turns played of each conversation (longer ones are cut there). Each level reports "
        "TTFT for every turn index up to this.",
    )


class Workload(ApiModel):
    """What each request asks for: synthetic prompts of a token-count distribution, or a dataset."""

    input_tokens: TokenDistribution | None = Field(
        default=None,
        description="Prompt length distribution for synthetic prompts. Set this or datasetConfigMapRef.",
    )
    output_tokens: TokenDistribution | None = Field(
        default=None,
        description="Completion length of each request: Fixed, or Uniform or Normal drawn per request "
        "(from the run's seed, status.seed). Sent as max_tokens with vLLM's min_tokens and ignore_eos, so "
        "every answer is exactly as long as drawn. Required for synthetic prompts; with a dataset, "
        f"{DATASET_OUTPUT_TOKENS} tokens when unset (or set datasetOutputTokens).",
    )
    dataset_config_map_ref: ConfigMapKeyRef | None = Field(
        default=None,
        description="A ConfigMap key holding a ShareGPT-format JSON dataset. Set this or inputTokens.",
    )
    dataset_output_tokens: bool = Field(
        default=False,
        description="With datasetConfigMapRef, instead of outputTokens: each request asks for as many "
        "tokens as the dataset's answer to its prompt has (counted with the server's /tokenize; one per "
        "word without it, with a warning), pinned like outputTokens. Turns without an answer are not sent.",
    )
    multi_turn: MultiTurn | None = Field(
        default=None,
        description="With datasetConfigMapRef, the Chat API and Concurrency mode: each user plays whole "
        "conversations, every turn sent with the conversation so far; the assistant turns are the "
        "dataset's answers (the same prompts for every run and server). Unset: single requests of each "
        "conversation's first human turn.",
    )
    stream: bool = Field(
        default=True,
        description="Stream each answer. With false only the end-to-end latency is measurable: the levels "
        "report no ttft, tpot or itl, and a TTFT or TPOT objective is refused.",
    )
    shared_prefix_tokens: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Tokens of a common prefix prepended to every prompt (exercises prefix caching).",
    )


LoadLevel = Annotated[int, Field(ge=1, le=100_000)]


class Load(ApiModel):
    """The load levels to step through, and how long each lasts."""

    mode: LoadMode = Field(
        default=LoadMode.CONCURRENCY,
        description="Concurrency: each level is a number of requests in flight. Rate: each level is "
        "requests started per second.",
    )
    levels: list[LoadLevel] = Field(
        min_length=1,
        max_length=64,
        description="Load levels, run in this order. Sorted ascending, unique, positive.",
    )
    arrival: Arrival | None = Field(
        default=None,
        description="Rate mode only: spacing of request starts, Constant or Poisson (default "
        f"{DEFAULT_ARRIVAL.value}).",
    )
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Rate mode only: cap on requests in flight, split between the shards (unset: 1024 per "
        "shard, so a stalled server cannot pile up requests without bound). A level that hits the cap is "
        "reported as client-saturated.",
    )
    requests_per_level: RequestsPerLevel = None
    level_duration_seconds: LevelDurationSeconds = None
    warmup_requests: WarmupRequests = DEFAULT_WARMUP_REQUESTS
    timeout_seconds: RequestTimeoutSeconds = DEFAULT_TIMEOUT_SECONDS
    ramp_up_seconds: int | None = Field(
        default=None,
        ge=1,
        le=3_600,
        description="Concurrency mode only: start a level's users evenly over this many seconds instead of "
        "all at once (the level's measurement still counts from its first request).",
    )


class Saturation(ApiModel):
    """When a level is flagged client-saturated (the load generator, not the server, may be what was
    measured). Unset fields keep the load generator's defaults (10, 2 and 20 ms)."""

    schedule_lag_milliseconds_p99: int | None = Field(
        default=None,
        ge=1,
        le=60_000,
        description="Rate mode: sends later than scheduled by this much at p99.",
    )
    loop_lag_milliseconds_p50: int | None = Field(
        default=None, ge=1, le=60_000, description="The load generator's event loop late by this much at p50."
    )
    loop_lag_milliseconds_p99: int | None = Field(
        default=None, ge=1, le=60_000, description="The load generator's event loop late by this much at p99."
    )


class Slo(ApiModel):
    """Latency objectives. A request is good (counts towards goodput) when it meets every one set; a level
    is within SLO when the chosen percentile of each metric meets its objective."""

    ttft_milliseconds: int | None = Field(
        default=None, ge=1, le=3_600_000, description="Time to first token objective, in milliseconds."
    )
    tpot_milliseconds: int | None = Field(
        default=None,
        ge=1,
        le=3_600_000,
        description="Time per output token (after the first) objective, in milliseconds.",
    )
    e2e_milliseconds: int | None = Field(
        default=None, ge=1, le=3_600_000, description="End-to-end request latency objective, in ms."
    )
    percentile: int = Field(
        default=90,
        ge=50,
        le=100,
        description="Percentile the objectives apply to when judging a level (e.g. 90 for p90).",
    )


class SuccessCriteria(ApiModel):
    """When the run counts as passed. Missed criteria end the LoadTest with Succeeded=False,
    reason=CriteriaNotMet, so a pipeline can gate on it."""

    max_error_rate_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Largest share of failed requests, in percent, allowed at any level.",
    )
    min_level_within_slo: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Every level up to this one must be within SLO (needs slo).",
    )
    min_goodput_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Smallest share of requests meeting the SLO, in percent, at every level up to "
        "minLevelWithinSlo, or at the lowest level when that is unset (needs slo).",
    )


class ResourceRequirements(ApiModel):
    """Compute resources of each load-generator container (the core/v1 ResourceRequirements shape)."""

    requests: dict[str, Quantity] | None = Field(
        default=None, description='Minimum resources, e.g. {cpu: "1", memory: 512Mi}.'
    )
    limits: dict[str, Quantity] | None = Field(
        default=None, description="Maximum resources, e.g. {memory: 1Gi}."
    )


class LoadGenerator(ApiModel):
    """The pods that generate load."""

    parallelism: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Number of load-generator pods (shards). Each runs one Job; the load of every level "
        "is split evenly between them.",
    )
    placement: Placement | None = Field(
        default=None,
        description="Where shards run relative to the target's pods: SameNode, SameZone or Anywhere. "
        "Defaults to SameNode with serviceRef and Anywhere with url.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Resources of each shard's container. The operator's default if unset."
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Load-generator image. The operator's default (its own version) if unset.",
    )
    min_succeeded_shards: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Shards that must finish for results to be reported; a smaller number allows "
        "partial results. Defaults to parallelism (every shard).",
    )
    deadline_seconds: int | None = Field(
        default=None,
        ge=60,
        le=7 * 86_400,
        description="Hard limit on each shard's run time (Job activeDeadlineSeconds). Derived from load "
        "when unset, so nothing runs forever.",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2_147_483_647,
        description="Seed of the prompts and arrivals, for a run that repeats another exactly. When unset, "
        "each run gets its own (derived from the LoadTest and runId), recorded in status.seed.",
    )
    saturation: Saturation | None = Field(
        default=None, description="Thresholds for flagging a level client-saturated."
    )


class Prometheus(ApiModel):
    """Where to read GPU (DCGM) and vLLM metrics for the run's level windows."""

    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Base URL of Prometheus. The operator's default if unset.",
    )
    bearer_token_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding a bearer token for Prometheus."
    )


class LoadTestSpec(ApiModel):
    """Desired state of a LoadTest. A finished LoadTest does not re-run when its spec changes; bump runId
    (or create a new LoadTest) to run again."""

    target: Target = Field(description="The server under test.")
    workload: Workload = Field(description="What each request asks for.")
    load: Load = Field(description="Load levels and their length.")
    slo: Slo | None = Field(default=None, description="Latency objectives for goodput and withinSlo.")
    success_criteria: SuccessCriteria | None = Field(
        default=None, description="When the run counts as passed."
    )
    load_generator: LoadGenerator = Field(
        default_factory=LoadGenerator, description="The pods that generate load."
    )
    run_id: int = Field(
        default=0,
        ge=0,
        le=1_000_000_000,
        description="Increase to run again; every other spec change after a run has started is ignored "
        "until runId changes.",
    )
    prometheus: Prometheus | None = Field(
        default=None, description="Metrics source for GPU and vLLM series; the operator's default if unset."
    )
    validation: Validation = Field(
        default_factory=Validation,
        description="How closely the client's figures must agree with vLLM's own metrics (each level's "
        "checks in status.levels[].validation, the count in status.validation and ServerAgreement).",
    )
