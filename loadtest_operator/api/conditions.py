"""The condition vocabulary of both kinds: every condition type and reason the operator sets, with what
each status means. CRD descriptions and docs/api.md are generated from the tables here, so code, schema
and docs cannot disagree.

Reasons are CamelCase words (metav1.Condition). Validation reasons are the `reason` of a `Problem`:
the first problem's reason becomes the condition's reason, every problem's message is kept.

Every reason's line starts with the condition it is set on, `Type: ` (status True) or `Type=Status: `
(False or Unknown), then what it means; a refusal's reason (Accepted=False) is also the reason of
Running=False and Succeeded=False.
"""

from dataclasses import dataclass
from enum import StrEnum

from loadtest_operator.api.gpu import GpuMetricsReason


@dataclass(frozen=True)
class Meaning:
    """What a condition type says when its status is True, False or Unknown: each text completes
    "True when …" (and so on) without a semicolon or a full stop, as the CRD description strings them
    together; an empty `unknown` means the status is never Unknown."""

    true: str
    false: str
    unknown: str = ""


class LoadTestConditionType(StrEnum):
    ACCEPTED = "Accepted"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    STORED = "Stored"
    GPU_METRICS_AVAILABLE = "GpuMetricsAvailable"
    SHARDS_ALIGNED = "ShardsAligned"
    SERVER_AGREEMENT = "ServerAgreement"
    STALLED = "Stalled"


LOADTEST_CONDITIONS: dict[LoadTestConditionType, Meaning] = {
    LoadTestConditionType.ACCEPTED: Meaning(
        true="the spec and the target are valid and the run's shards were created",
        false="the spec was refused (the reason names the first problem, the message every one and how "
        "to fix it)",
    ),
    LoadTestConditionType.RUNNING: Meaning(
        true="shards are starting (ShardsStarting) or loading the target (ShardsRunning)",
        false="nothing runs: the run finished (RunFinished) or never started (the refusal's reason)",
    ),
    LoadTestConditionType.SUCCEEDED: Meaning(
        true="every level was measured and the success criteria hold (Completed)",
        false="the spec was refused, the run failed or it missed its success criteria (the reason says "
        "which)",
        unknown="the run is in progress (RunInProgress)",
    ),
    LoadTestConditionType.STORED: Meaning(
        true="the run and its levels are in the SQL store",
        false="the store was unreachable (DatabaseUnavailable: results stay in status and are written once "
        "it is back) or refused the run's values (StoreRejected)",
    ),
    LoadTestConditionType.GPU_METRICS_AVAILABLE: Meaning(
        true="GPU figures (and vLLM's, where it exports them) were collected for every level "
        "(MetricsCollected)",
        false="no GPU figures were collected, as the reason explains (Prometheus trouble never fails a run)",
    ),
    LoadTestConditionType.SHARDS_ALIGNED: Meaning(
        true="all levels' shards ran together (ShardsOverlapped)",
        false="a level's shards overlapped < 90 % (ShardsMisaligned)",
    ),
    LoadTestConditionType.SERVER_AGREEMENT: Meaning(
        true="the client's figures agree with vLLM's own metrics (ChecksPassed)",
        false="some differ by more than spec.validation allows (ChecksFailed)",
        unknown="there were no vLLM figures to check (NoServerFigures)",
    ),
    LoadTestConditionType.STALLED: Meaning(
        true="the last reconcile failed with an error the operator could not turn into any other "
        "condition (ReconcileError: the message quotes it, and the operator retries with backoff until "
        "its stalled deadline, then gives the object up: StalledTooLong)",
        false="reconciles succeed again (Recovered)",
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
    SHARD_POD_REFUSED = "ShardPodRefused"
    UNSCHEDULABLE = "Unschedulable"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    RESULT_UNREADABLE = "ResultUnreadable"
    SHARDS_NOT_READY = "ShardsNotReady"
    # ShardsAligned
    SHARDS_OVERLAPPED = "ShardsOverlapped"
    SHARDS_MISALIGNED = "ShardsMisaligned"
    STALLED_TOO_LONG = "StalledTooLong"
    # Stored
    STORED = "Stored"
    DATABASE_UNAVAILABLE = "DatabaseUnavailable"
    STORE_REJECTED = "StoreRejected"
    # ServerAgreement
    CHECKS_PASSED = "ChecksPassed"
    CHECKS_FAILED = "ChecksFailed"
    NO_SERVER_FIGURES = "NoServerFigures"
    # Stalled
    RECONCILE_ERROR = "ReconcileError"
    RECOVERED = "Recovered"
    # Refusals (Accepted=False): the spec as the schema sees it
    INVALID_SPEC = "InvalidSpec"
    TARGET_NOT_SET = "TargetNotSet"
    TARGET_AMBIGUOUS = "TargetAmbiguous"
    PLACEMENT_NEEDS_SERVICE_REF = "PlacementNeedsServiceRef"
    WORKLOAD_NOT_SET = "WorkloadNotSet"
    WORKLOAD_AMBIGUOUS = "WorkloadAmbiguous"
    OUTPUT_TOKENS_NOT_SET = "OutputTokensNotSet"
    OUTPUT_TOKENS_AMBIGUOUS = "OutputTokensAmbiguous"
    DATASET_OUTPUT_NEEDS_DATASET = "DatasetOutputNeedsDataset"
    MULTI_TURN_NEEDS_DATASET = "MultiTurnNeedsDataset"
    MULTI_TURN_NEEDS_CHAT = "MultiTurnNeedsChat"
    MULTI_TURN_NEEDS_CONCURRENCY_MODE = "MultiTurnNeedsConcurrencyMode"
    SLO_NEEDS_STREAM = "SloNeedsStream"
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
    RAMP_UP_NEEDS_CONCURRENCY_MODE = "RampUpNeedsConcurrencyMode"
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
    CREDENTIALS_IN_URL = "CredentialsInUrl"
    INVALID_RESOURCES = "InvalidResources"
    # Refusals (Accepted=False): what the operator will not use on the author's behalf (docs/security.md)
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"
    SERVICE_ACCOUNT_TOKEN_REFUSED = "ServiceAccountTokenRefused"
    NOT_OPTED_IN = "NotOptedIn"
    ADDRESS_REFUSED = "AddressRefused"
    CHILD_NOT_OWNED = "ChildNotOwned"


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
    LoadTestReason.SHARD_POD_REFUSED: "Succeeded=False: a shard's Job could not create its pod (a "
    "ResourceQuota, LimitRange or admission policy; the message quotes the API server)",
    LoadTestReason.UNSCHEDULABLE: "Succeeded=False: a shard pod could not be scheduled (scheduler's words)",
    LoadTestReason.DEADLINE_EXCEEDED: "Succeeded=False: a shard ran past its deadline",
    LoadTestReason.RESULT_UNREADABLE: "Succeeded=False: a shard's result ConfigMap holds no loadgen result "
    "the operator can read (corrupt, foreign, not merging with the others, or larger than any shard can "
    "report: a zlib bomb); the message names the shard and what is wrong",
    LoadTestReason.SHARDS_NOT_READY: "Succeeded=False: some shards waited for the others to get ready "
    "for a level (their start barrier) longer than the operator's barrier timeout; the message names the "
    "shards not ready, what they were doing and for how long the others waited",
    LoadTestReason.SHARDS_OVERLAPPED: "ShardsAligned: in every level all shards ran for at least 90 % of "
    "the level's window",
    LoadTestReason.SHARDS_MISALIGNED: "ShardsAligned=False: in some level the shards overlapped for less "
    "than 90 % of its window; the message gives the figures (the level's rates hold over its whole window, "
    "but the target never carried the whole level at once)",
    LoadTestReason.STALLED_TOO_LONG: "Succeeded=False: every reconcile failed for longer than the "
    "operator's LLMLOAD_STALLED_DEADLINE_SECONDS (the message quotes the last error); the run's Jobs were "
    "stopped",
    LoadTestReason.STORED: "Stored: the run is in the SQL store",
    LoadTestReason.DATABASE_UNAVAILABLE: "Stored=False: the SQL store is unreachable or too slow; retried "
    "with back-off",
    LoadTestReason.STORE_REJECTED: "Stored=False: the SQL store refused the run's values (the message says "
    "which); tried again only after an operator restart",
    LoadTestReason.CHECKS_PASSED: "ServerAgreement: every level's figures agree with vLLM's within "
    "spec.validation",
    LoadTestReason.CHECKS_FAILED: "ServerAgreement=False: some client figures differ from vLLM's by more than "
    "spec.validation allows (status.validation lists them)",
    LoadTestReason.NO_SERVER_FIGURES: "ServerAgreement=Unknown: no vLLM figures to check against",
    LoadTestReason.RECONCILE_ERROR: "Stalled: the last reconcile failed (the message quotes the error); "
    "retried with backoff",
    LoadTestReason.RECOVERED: "Stalled=False: reconciles succeed again",
    LoadTestReason.INVALID_SPEC: "Accepted=False: the spec does not parse (the installed CRD and the "
    "operator disagree)",
    LoadTestReason.TARGET_NOT_SET: "Accepted=False: neither target.serviceRef nor target.url is set",
    LoadTestReason.TARGET_AMBIGUOUS: "Accepted=False: both target.serviceRef and target.url are set",
    LoadTestReason.PLACEMENT_NEEDS_SERVICE_REF: "Accepted=False: SameNode/SameZone placement with a url "
    "target (only serviceRef finds the target's pods)",
    LoadTestReason.WORKLOAD_NOT_SET: "Accepted=False: neither inputTokens nor datasetConfigMapRef is set",
    LoadTestReason.WORKLOAD_AMBIGUOUS: "Accepted=False: both inputTokens and datasetConfigMapRef are set",
    LoadTestReason.OUTPUT_TOKENS_NOT_SET: "Accepted=False: synthetic prompts without outputTokens",
    LoadTestReason.OUTPUT_TOKENS_AMBIGUOUS: "Accepted=False: both outputTokens and datasetOutputTokens are set",
    LoadTestReason.DATASET_OUTPUT_NEEDS_DATASET: "Accepted=False: datasetOutputTokens without "
    "datasetConfigMapRef",
    LoadTestReason.MULTI_TURN_NEEDS_DATASET: "Accepted=False: multiTurn without datasetConfigMapRef (the "
    "conversations come from the dataset)",
    LoadTestReason.MULTI_TURN_NEEDS_CHAT: "Accepted=False: multiTurn with the Completions API, which has no "
    "turns",
    LoadTestReason.MULTI_TURN_NEEDS_CONCURRENCY_MODE: "Accepted=False: multiTurn in Rate mode (a turn is "
    "sent when the one before is answered)",
    LoadTestReason.SLO_NEEDS_STREAM: "Accepted=False: a TTFT or TPOT objective with stream: false (only "
    "end-to-end latency is measurable without a stream)",
    LoadTestReason.DISTRIBUTION_PARAMETER_MISSING: "Accepted=False: a token distribution lacks a parameter "
    "it needs",
    LoadTestReason.DISTRIBUTION_PARAMETER_UNUSED: "Accepted=False: a token distribution sets a parameter it "
    "ignores",
    LoadTestReason.DISTRIBUTION_RANGE_INVALID: "Accepted=False: a token distribution's min, mean and max are "
    "out of order",
    LoadTestReason.DISTRIBUTION_WITHOUT_SPREAD: "Accepted=False: a Normal token distribution with stddev 0",
    LoadTestReason.SHARED_PREFIX_TOO_LONG: "Accepted=False: sharedPrefixTokens leaves the shortest prompt no "
    "unique part",
    LoadTestReason.LEVELS_NOT_SET: "Accepted=False: no load level",
    LoadTestReason.LEVEL_NOT_POSITIVE: "Accepted=False: a level below 1",
    LoadTestReason.LEVELS_NOT_UNIQUE: "Accepted=False: a level appears twice",
    LoadTestReason.LEVELS_NOT_SORTED: "Accepted=False: levels not ascending",
    LoadTestReason.LEVEL_LENGTH_NOT_SET: "Accepted=False: neither requestsPerLevel nor levelDurationSeconds "
    "is set",
    LoadTestReason.LEVEL_LENGTH_AMBIGUOUS: "Accepted=False: both requestsPerLevel and levelDurationSeconds "
    "are set",
    LoadTestReason.REQUESTS_BELOW_LEVEL: "Accepted=False: requestsPerLevel below a concurrency level",
    LoadTestReason.ARRIVAL_NEEDS_RATE_MODE: "Accepted=False: arrival set in Concurrency mode",
    LoadTestReason.RAMP_UP_NEEDS_CONCURRENCY_MODE: "Accepted=False: rampUpSeconds set in Rate mode",
    LoadTestReason.MAX_CONCURRENCY_NEEDS_RATE_MODE: "Accepted=False: maxConcurrency set in Concurrency mode",
    LoadTestReason.TOO_MANY_SHARDS: "Accepted=False: more shards than a level, maxConcurrency or "
    "requestsPerLevel allows",
    LoadTestReason.MIN_SUCCEEDED_SHARDS_TOO_LARGE: "Accepted=False: minSucceededShards above parallelism",
    LoadTestReason.SLO_EMPTY: "Accepted=False: slo set without any objective",
    LoadTestReason.CRITERIA_NEED_SLO: "Accepted=False: successCriteria judge the SLO, but slo is unset",
    LoadTestReason.CRITERIA_LEVEL_UNKNOWN: "Accepted=False: minLevelWithinSlo is not one of the levels",
    LoadTestReason.RUN_CONFIG_INVALID: "Accepted=False: the load generator refuses the run config made from "
    "the spec",
    LoadTestReason.SERVICE_NOT_FOUND: "Accepted=False: target.serviceRef names no Service",
    LoadTestReason.SERVICE_WITHOUT_CLUSTER_IP: "Accepted=False: the Service is headless or ExternalName",
    LoadTestReason.SERVICE_WITHOUT_SELECTOR: "Accepted=False: the Service has no selector",
    LoadTestReason.SERVICE_PORT_NOT_FOUND: "Accepted=False: the Service has no such port",
    LoadTestReason.NO_READY_PODS: "Accepted=False: the Service selects no running, ready pod",
    LoadTestReason.SECRET_NOT_FOUND: "Accepted=False: a referenced Secret does not exist",
    LoadTestReason.SECRET_KEY_NOT_FOUND: "Accepted=False: a referenced Secret lacks the key",
    LoadTestReason.CONFIG_MAP_NOT_FOUND: "Accepted=False: a referenced ConfigMap does not exist",
    LoadTestReason.CONFIG_MAP_KEY_NOT_FOUND: "Accepted=False: a referenced ConfigMap lacks the key",
    LoadTestReason.CREDENTIALS_IN_URL: "Accepted=False: a URL carries a user or password (it would be shown "
    "in status and Events); use the Secret references",
    LoadTestReason.INVALID_RESOURCES: "Accepted=False: loadGenerator.resources holds a quantity the API "
    "server refuses, or a request above its limit",
    LoadTestReason.RUN_CONFIG_TOO_LARGE: "Accepted=False: the load generator's run config does not fit in a "
    "ConfigMap",
    LoadTestReason.CHILD_NOT_OWNED: "Accepted=False: an object already has the name of one of the run's "
    "children and is not owned by this LoadTest (planted, or someone else's); nothing ran with it",
    LoadTestReason.IMAGE_NOT_ALLOWED: "Accepted=False: loadGenerator.image is not in the operator's image "
    "allow-list (the chart's loadGenerator.allowedImages)",
    LoadTestReason.SERVICE_ACCOUNT_TOKEN_REFUSED: "Accepted=False: a referenced Secret is a ServiceAccount "
    "token; the operator never sends cluster credentials to a server",
    LoadTestReason.NOT_OPTED_IN: "Accepted=False: no admission webhook reviewed the author's rights and the "
    "referenced Secret lacks the label llmload.io/allow-loadtest=true",
    LoadTestReason.ADDRESS_REFUSED: "Accepted=False: the target resolves into an address range the "
    "operator never fetches from (link-local, the API server; the chart's fetchPolicy.refusedRanges)",
}


GPU_METRICS_REASONS: dict[GpuMetricsReason, str] = {
    GpuMetricsReason.METRICS_COLLECTED: "GpuMetricsAvailable: DCGM series matched the target's pods; "
    "figures are in each level's gpu (and server)",
    GpuMetricsReason.PROMETHEUS_NOT_CONFIGURED: "GpuMetricsAvailable=False: neither "
    "spec.prometheus.url nor the operator's Prometheus URL is set",
    GpuMetricsReason.NO_TARGET_PODS: "GpuMetricsAvailable=False: the target has no known pods (a url target)",
    GpuMetricsReason.PROMETHEUS_UNREACHABLE: "GpuMetricsAvailable=False: Prometheus refused the connection "
    "or timed out",
    GpuMetricsReason.PROMETHEUS_UNAUTHORIZED: "GpuMetricsAvailable=False: Prometheus answered 401 or 403 "
    "(check the token)",
    GpuMetricsReason.PROMETHEUS_QUERY_FAILED: "GpuMetricsAvailable=False: Prometheus refused a query or "
    "answered something that is not its JSON",
    GpuMetricsReason.PROMETHEUS_TOO_SLOW: "GpuMetricsAvailable=False: the queries ran past their overall "
    "deadline",
    GpuMetricsReason.NO_SERIES_MATCHED: "GpuMetricsAvailable=False: no DCGM series matched the target's "
    "pods (the message lists the selectors tried), or no level had a time window",
    GpuMetricsReason.PROMETHEUS_NOT_ALLOWED: "GpuMetricsAvailable=False: spec.prometheus names a URL the "
    "chart does not allow, or a token Secret the operator may not use (docs/security.md)",
}


class CapacityConditionType(StrEnum):
    READY = "Ready"
    STALLED = "Stalled"
    SCALED = "Scaled"


CAPACITY_CONDITIONS: dict[CapacityConditionType, Meaning] = {
    CapacityConditionType.READY: Meaning(
        true="a recommendation is in status (Recommended)",
        false="no recommendation can be made as things are (the reason says why, the message what to change)",
        unknown="the search is measuring (Searching)",
    ),
    CapacityConditionType.STALLED: Meaning(
        true="the last reconcile failed with an error the operator could not turn into any other "
        "condition (ReconcileError: the message quotes it, and the operator retries with backoff until "
        "its stalled deadline, then gives the object up: StalledTooLong)",
        false="reconciles succeed again (Recovered)",
    ),
    CapacityConditionType.SCALED: Meaning(
        true="with scaleDeployment, the Deployment's replicas were set to the recommendation (Scaled) or "
        "to spec.maxReplicas below it (ScaleCapped)",
        false="with scaleDeployment, the operator refused to scale the Deployment (ScaleRefused: the "
        "message says why and what to change)",
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
    STALLED_TOO_LONG = "StalledTooLong"
    RECONCILE_ERROR = "ReconcileError"
    RECOVERED = "Recovered"
    NOT_BEHIND_TARGET = "DeploymentNotBehindTarget"
    SCALED = "Scaled"
    SCALE_CAPPED = "ScaleCapped"
    SCALE_REFUSED = "ScaleRefused"


CAPACITY_REASONS: dict[CapacityReason, str] = {
    CapacityReason.SEARCHING: "Ready=Unknown: measuring a level (or waiting for the workload)",
    CapacityReason.RECOMMENDED: "Ready: the recommendation is in status",
    CapacityReason.SLO_UNREACHABLE: "Ready=False: even the lowest level misses the SLO",
    CapacityReason.TARGET_UNAVAILABLE: "Ready=False: the Deployment, its Service or its ready pods are "
    "missing",
    CapacityReason.INVALID_SPEC: "Ready=False: the spec cannot be searched (the message says what to change)",
    CapacityReason.CHILD_FAILED: "Ready=False: a child LoadTest failed; delete it to measure again",
    CapacityReason.PROMETHEUS_UNAVAILABLE: "Ready=False: fromPrometheus could not read the workload",
    CapacityReason.STALLED_TOO_LONG: "Ready=False: every reconcile failed for longer than the operator's "
    "LLMLOAD_STALLED_DEADLINE_SECONDS (the message quotes the last error); the search stops until the spec "
    "changes",
    CapacityReason.RECONCILE_ERROR: "Stalled: the last reconcile failed (the message quotes the error); "
    "retried with backoff",
    CapacityReason.RECOVERED: "Stalled=False: reconciles succeed again",
    CapacityReason.NOT_BEHIND_TARGET: "Ready=False: the Deployment's selector matches none of the pods the "
    "target Service routes to",
    CapacityReason.SCALED: "Scaled: the Deployment's replicas are the recommendation",
    CapacityReason.SCALE_CAPPED: "Scaled: the recommendation is above spec.maxReplicas; the Deployment was "
    "set to maxReplicas",
    CapacityReason.SCALE_REFUSED: "Scaled=False: the operator will not scale this Deployment (no opt-in label "
    "where no admission webhook runs)",
}

__all__ = [
    "CAPACITY_CONDITIONS",
    "CAPACITY_REASONS",
    "GPU_METRICS_REASONS",
    "LOADTEST_CONDITIONS",
    "LOADTEST_REASONS",
    "CapacityConditionType",
    "CapacityReason",
    "GpuMetricsReason",
    "LoadTestConditionType",
    "LoadTestReason",
    "Meaning",
]
