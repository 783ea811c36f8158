"""The condition vocabulary of both kinds: every condition type and reason the operator sets, with what
each status means. CRD descriptions and docs/api.md are generated from the tables here, so code, schema
and docs cannot disagree.

Reasons are CamelCase words (metav1.Condition). Validation reasons are the `reason` of a `Problem`:
the first problem's reason becomes the condition's reason, every problem's message is kept.
"""

from dataclasses import dataclass
from enum import StrEnum

from loadtest_operator.api.gpu import GpuMetricsReason


@dataclass(frozen=True)
class Meaning:
    """What a condition type says when its status is True, False or Unknown."""

    true: str
    false: str
    unknown: str = ""


class LoadTestConditionType(StrEnum):
    ACCEPTED = "Accepted"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    STORED = "Stored"
    GPU_METRICS_AVAILABLE = "GpuMetricsAvailable"


LOADTEST_CONDITIONS: dict[LoadTestConditionType, Meaning] = {
    LoadTestConditionType.ACCEPTED: Meaning(
        true="the spec and the target are valid and the run's shards were created",
        false="the spec was refused; the reason names the first problem, the message every one and how "
        "to fix it",
    ),
    LoadTestConditionType.RUNNING: Meaning(
        true="shards are starting (ShardsStarting) or loading the target (ShardsRunning)",
        false="nothing runs: the run finished (RunFinished) or never started (the refusal's reason)",
    ),
    LoadTestConditionType.SUCCEEDED: Meaning(
        true="every level was measured and the success criteria hold (Completed)",
        false="the run failed or missed its success criteria; the reason says which",
        unknown="the run is in progress (RunInProgress)",
    ),
    LoadTestConditionType.STORED: Meaning(
        true="the run and its levels are in the SQL store",
        false="the store was unreachable; results stay in status and are written once it is back",
    ),
    LoadTestConditionType.GPU_METRICS_AVAILABLE: Meaning(
        true="GPU and vLLM figures were collected for every level (MetricsCollected)",
        false="no GPU figures; the reason says why (Prometheus trouble never fails a run)",
    ),
}


class LoadTestReason(StrEnum):
    # Lifecycle
    VALID = "Valid"
    SHARDS_STARTING = "ShardsStarting"
    SHARDS_RUNNING = "ShardsRunning"
    RUN_FINISHED = "RunFinished"
    RUN_IN_PROGRESS = "RunInProgress"
    COMPLETED = "Completed"
    CRITERIA_NOT_MET = "CriteriaNotMet"
    SHARD_FAILED = "ShardFailed"
    SHARD_DELETED = "ShardDeleted"
    UNSCHEDULABLE = "Unschedulable"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    # Stored
    STORED = "Stored"
    DATABASE_UNAVAILABLE = "DatabaseUnavailable"
    # Refusals (Accepted=False): the spec as the schema sees it
    INVALID_SPEC = "InvalidSpec"
    TARGET_NOT_SET = "TargetNotSet"
    TARGET_AMBIGUOUS = "TargetAmbiguous"
    PLACEMENT_NEEDS_SERVICE_REF = "PlacementNeedsServiceRef"
    WORKLOAD_NOT_SET = "WorkloadNotSet"
    WORKLOAD_AMBIGUOUS = "WorkloadAmbiguous"
    OUTPUT_TOKENS_NOT_SET = "OutputTokensNotSet"
    OUTPUT_DISTRIBUTION_NOT_SUPPORTED = "OutputDistributionNotSupported"
    DISTRIBUTION_PARAMETER_MISSING = "DistributionParameterMissing"
    DISTRIBUTION_PARAMETER_UNUSED = "DistributionParameterUnused"
    DISTRIBUTION_RANGE_INVALID = "DistributionRangeInvalid"
    DISTRIBUTION_WITHOUT_SPREAD = "DistributionWithoutSpread"
    SHARED_PREFIX_TOO_LONG = "SharedPrefixTooLong"
    LEVELS_NOT_SET = "LevelsNotSet"
    LEVEL_NOT_POSITIVE = "LevelNotPositive"
    LEVELS_NOT_UNIQUE = "LevelsNotUnique"
    LEVELS_NOT_SORTED = "LevelsNotSorted"
    LEVEL_LENGTH_NOT_SET = "LevelLengthNotSet"
    LEVEL_LENGTH_AMBIGUOUS = "LevelLengthAmbiguous"
    REQUESTS_BELOW_LEVEL = "RequestsBelowLevel"
    ARRIVAL_NEEDS_RATE_MODE = "ArrivalNeedsRateMode"
    MAX_CONCURRENCY_NEEDS_RATE_MODE = "MaxConcurrencyNeedsRateMode"
    TOO_MANY_SHARDS = "TooManyShards"
    MIN_SUCCEEDED_SHARDS_TOO_LARGE = "MinSucceededShardsTooLarge"
    SLO_EMPTY = "SloEmpty"
    CRITERIA_NEED_SLO = "CriteriaNeedSlo"
    CRITERIA_LEVEL_UNKNOWN = "CriteriaLevelUnknown"
    RUN_CONFIG_INVALID = "RunConfigInvalid"
    # Refusals (Accepted=False): what the spec names in the cluster
    SERVICE_NOT_FOUND = "ServiceNotFound"
    SERVICE_WITHOUT_CLUSTER_IP = "ServiceWithoutClusterIP"
    SERVICE_WITHOUT_SELECTOR = "ServiceWithoutSelector"
    SERVICE_PORT_NOT_FOUND = "ServicePortNotFound"
    NO_READY_PODS = "NoReadyPods"
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_KEY_NOT_FOUND = "SecretKeyNotFound"
    CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
    CONFIG_MAP_KEY_NOT_FOUND = "ConfigMapKeyNotFound"
    RUN_CONFIG_TOO_LARGE = "RunConfigTooLarge"


LOADTEST_REASONS: dict[LoadTestReason, str] = {
    LoadTestReason.VALID: "Accepted: spec and target are valid",
    LoadTestReason.SHARDS_STARTING: "Running: the shards' Jobs exist, no shard pod runs yet",
    LoadTestReason.SHARDS_RUNNING: "Running: shard pods are running",
    LoadTestReason.RUN_FINISHED: "Running=False: the run has ended",
    LoadTestReason.RUN_IN_PROGRESS: "Succeeded=Unknown: not ended yet",
    LoadTestReason.COMPLETED: "Succeeded: every level measured, criteria met",
    LoadTestReason.CRITERIA_NOT_MET: "Succeeded=False: measured, but spec.successCriteria missed",
    LoadTestReason.SHARD_FAILED: "Succeeded=False: a shard failed (exit code and log tail in the message)",
    LoadTestReason.SHARD_DELETED: "Succeeded=False: a shard's Job was deleted before it reported",
    LoadTestReason.UNSCHEDULABLE: "Succeeded=False: a shard pod could not be scheduled (scheduler's words)",
    LoadTestReason.DEADLINE_EXCEEDED: "Succeeded=False: a shard ran past its deadline",
    LoadTestReason.STORED: "Stored: the run is in the SQL store",
    LoadTestReason.DATABASE_UNAVAILABLE: "Stored=False: the SQL store is unreachable; retried every tick",
    LoadTestReason.INVALID_SPEC: "the spec does not parse (the installed CRD and the operator disagree)",
    LoadTestReason.TARGET_NOT_SET: "neither target.serviceRef nor target.url is set",
    LoadTestReason.TARGET_AMBIGUOUS: "both target.serviceRef and target.url are set",
    LoadTestReason.PLACEMENT_NEEDS_SERVICE_REF: "SameNode/SameZone placement with a url target",
    LoadTestReason.WORKLOAD_NOT_SET: "neither inputTokens nor datasetConfigMapRef is set",
    LoadTestReason.WORKLOAD_AMBIGUOUS: "both inputTokens and datasetConfigMapRef are set",
    LoadTestReason.OUTPUT_TOKENS_NOT_SET: "synthetic prompts without outputTokens",
    LoadTestReason.OUTPUT_DISTRIBUTION_NOT_SUPPORTED: "outputTokens is not Fixed",
    LoadTestReason.DISTRIBUTION_PARAMETER_MISSING: "a token distribution lacks a parameter it needs",
    LoadTestReason.DISTRIBUTION_PARAMETER_UNUSED: "a token distribution sets a parameter it ignores",
    LoadTestReason.DISTRIBUTION_RANGE_INVALID: "a token distribution's min, mean and max are out of order",
    LoadTestReason.DISTRIBUTION_WITHOUT_SPREAD: "a Normal token distribution with stddev 0",
    LoadTestReason.SHARED_PREFIX_TOO_LONG: "sharedPrefixTokens leaves the shortest prompt no unique part",
    LoadTestReason.LEVELS_NOT_SET: "no load level",
    LoadTestReason.LEVEL_NOT_POSITIVE: "a level below 1",
    LoadTestReason.LEVELS_NOT_UNIQUE: "a level appears twice",
    LoadTestReason.LEVELS_NOT_SORTED: "levels not ascending",
    LoadTestReason.LEVEL_LENGTH_NOT_SET: "neither requestsPerLevel nor levelDurationSeconds is set",
    LoadTestReason.LEVEL_LENGTH_AMBIGUOUS: "both requestsPerLevel and levelDurationSeconds are set",
    LoadTestReason.REQUESTS_BELOW_LEVEL: "requestsPerLevel below a concurrency level",
    LoadTestReason.ARRIVAL_NEEDS_RATE_MODE: "arrival set in Concurrency mode",
    LoadTestReason.MAX_CONCURRENCY_NEEDS_RATE_MODE: "maxConcurrency set in Concurrency mode",
    LoadTestReason.TOO_MANY_SHARDS: "more shards than a level, maxConcurrency or requestsPerLevel allows",
    LoadTestReason.MIN_SUCCEEDED_SHARDS_TOO_LARGE: "minSucceededShards above parallelism",
    LoadTestReason.SLO_EMPTY: "slo set without any objective",
    LoadTestReason.CRITERIA_NEED_SLO: "successCriteria judge the SLO, but slo is unset",
    LoadTestReason.CRITERIA_LEVEL_UNKNOWN: "minLevelWithinSlo is not one of the levels",
    LoadTestReason.RUN_CONFIG_INVALID: "the load generator refuses the run config made from the spec",
    LoadTestReason.SERVICE_NOT_FOUND: "target.serviceRef names no Service",
    LoadTestReason.SERVICE_WITHOUT_CLUSTER_IP: "the Service is headless or ExternalName",
    LoadTestReason.SERVICE_WITHOUT_SELECTOR: "the Service has no selector",
    LoadTestReason.SERVICE_PORT_NOT_FOUND: "the Service has no such port",
    LoadTestReason.NO_READY_PODS: "the Service selects no running, ready pod",
    LoadTestReason.SECRET_NOT_FOUND: "a referenced Secret does not exist",
    LoadTestReason.SECRET_KEY_NOT_FOUND: "a referenced Secret lacks the key",
    LoadTestReason.CONFIG_MAP_NOT_FOUND: "a referenced ConfigMap does not exist",
    LoadTestReason.CONFIG_MAP_KEY_NOT_FOUND: "a referenced ConfigMap lacks the key",
    LoadTestReason.RUN_CONFIG_TOO_LARGE: "the load generator's run config does not fit in a ConfigMap",
}


class CapacityConditionType(StrEnum):
    READY = "Ready"


CAPACITY_CONDITIONS: dict[CapacityConditionType, Meaning] = {
    CapacityConditionType.READY: Meaning(
        true="a recommendation is in status (Recommended)",
        false="no recommendation can be made as things are; the reason says why and the message what "
        "to change",
        unknown="the search is measuring (Searching)",
    ),
}


class CapacityReason(StrEnum):
    SEARCHING = "Searching"
    RECOMMENDED = "Recommended"
    SLO_UNREACHABLE = "SloUnreachable"
    TARGET_UNAVAILABLE = "TargetUnavailable"
    INVALID_SPEC = "InvalidSpec"
    CHILD_FAILED = "ChildFailed"
    PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"


CAPACITY_REASONS: dict[CapacityReason, str] = {
    CapacityReason.SEARCHING: "Ready=Unknown: measuring a level (or waiting for the workload)",
    CapacityReason.RECOMMENDED: "Ready: the recommendation is in status",
    CapacityReason.SLO_UNREACHABLE: "Ready=False: even the lowest level misses the SLO",
    CapacityReason.TARGET_UNAVAILABLE: "Ready=False: the Deployment, its Service or its ready pods are missing",
    CapacityReason.INVALID_SPEC: "Ready=False: the spec cannot be searched (the message says what to change)",
    CapacityReason.CHILD_FAILED: "Ready=False: a child LoadTest failed; delete it to measure again",
    CapacityReason.PROMETHEUS_UNAVAILABLE: "Ready=False: fromPrometheus could not read the workload",
}

__all__ = [
    "CAPACITY_CONDITIONS",
    "CAPACITY_REASONS",
    "LOADTEST_CONDITIONS",
    "LOADTEST_REASONS",
    "CapacityConditionType",
    "CapacityReason",
    "GpuMetricsReason",
    "LoadTestConditionType",
    "LoadTestReason",
    "Meaning",
]
