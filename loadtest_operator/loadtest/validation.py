"""Semantic validation of a LoadTest spec: the cross-field rules a structural schema cannot express.

`validate_spec` needs only the spec. The `check_*` functions judge objects the handler has already
fetched from the cluster (as plain dicts, or None when absent), so they stay pure and table-testable.
"""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from loadgen.distribution import (
    DistributionCode,
    DistributionProblem,
    distribution_problems,
    shared_prefix_problems,
)
from loadtest_operator.api import (
    Api,
    ConfigMapKeyRef,
    LoadMode,
    LoadTestSpec,
    Placement,
    SecretKeyRef,
    ServiceRef,
    TokenDistribution,
)
from loadtest_operator.api.conditions import LoadTestReason
from loadtest_operator.core.problems import Problem
from loadtest_operator.core.quantity import parse_quantity
from loadtest_operator.loadtest.run_config import VALIDATION_URL, build_run_config, spec_field
from loadtest_operator.loadtest.target import is_pod_ready


def parse_spec(raw: Mapping[str, Any]) -> tuple[LoadTestSpec | None, list[Problem]]:
    """The spec of a LoadTest as kopf hands it over, or the schema problems that stop it from parsing.

    The API server enforces the same schema, so problems here mean the installed CRD is older or newer
    than the operator; they are reported like any other invalid spec instead of crashing the handler.
    """
    try:
        return LoadTestSpec.model_validate(raw), []
    except ValidationError as error:
        problems = [
            Problem(
                LoadTestReason.INVALID_SPEC,
                str(e["msg"]),
                ".".join(["spec", *(str(part) for part in e["loc"])]),
            )
            for e in error.errors()
        ]
        return None, problems


def validate_spec(spec: LoadTestSpec) -> list[Problem]:
    """Every problem in `spec`, in field order. An empty list means the spec can run: the load generator
    accepts the run config made from it (checked last, on a spec every rule here accepts)."""
    problems = [
        *_check_target(spec),
        *check_url_credentials(spec.target.url, "spec.target.url"),
        *check_url_credentials(spec.prometheus.url if spec.prometheus else None, "spec.prometheus.url"),
        *_check_resources(spec),
        *_check_workload(spec),
        *_check_levels(spec),
        *_check_level_length(spec),
        *_check_mode_fields(spec),
        *_check_shards(spec),
        *_check_slo_and_criteria(spec),
    ]
    return problems or check_run_config(spec)


def check_url_credentials(url: str | None, field: str) -> list[Problem]:
    """A URL with a user or password in it would be copied into status, Events and the store: refuse it,
    and point at the Secret references instead."""
    if url is None or "@" not in urlsplit(url).netloc:
        return []
    return [
        Problem(
            LoadTestReason.CREDENTIALS_IN_URL,
            "remove the user and password from the URL (it is shown in status and Events); put an API key "
            "in a Secret and name it in target.apiKeySecretRef (Prometheus: prometheus.bearerTokenSecretRef)",
            field,
        )
    ]


def _check_resources(spec: LoadTestSpec) -> list[Problem]:
    """Quantities the API server would refuse (as a Job it cannot create), and requests above limits."""
    resources = spec.load_generator.resources
    if resources is None:
        return []
    field = "spec.loadGenerator.resources"
    problems: list[Problem] = []
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind, values in (("requests", resources.requests or {}), ("limits", resources.limits or {})):
        for name, value in values.items():
            amount = parse_quantity(value)
            if amount is None or amount < 0:
                problems.append(
                    Problem(
                        LoadTestReason.INVALID_RESOURCES,
                        f'{value!r} is not a resource quantity; write e.g. "500m" or "1" for cpu, '
                        '"512Mi" or "1Gi" for memory',
                        f"{field}.{kind}.{name}",
                    )
                )
            else:
                parsed.setdefault(kind, {})[name] = amount
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            problems.append(
                Problem(
                    LoadTestReason.INVALID_RESOURCES,
                    f"the {name} request ({(resources.requests or {})[name]}) is above its limit "
                    f"({(resources.limits or {})[name]}); raise the limit or lower the request",
                    f"{field}.requests.{name}",
                )
            )
    return problems


def _check_target(spec: LoadTestSpec) -> list[Problem]:
    target = spec.target
    field = "spec.target"
    if target.service_ref is None and target.url is None:
        return [
            Problem(
                LoadTestReason.TARGET_NOT_SET,
                "set serviceRef (a Service in this namespace) or url (the server's base URL)",
                field,
            )
        ]
    if target.service_ref is not None and target.url is not None:
        return [
            Problem(LoadTestReason.TARGET_AMBIGUOUS, "set only one of serviceRef and url, not both", field)
        ]
    placement = spec.load_generator.placement
    if target.url is not None and placement in (Placement.SAME_NODE, Placement.SAME_ZONE):
        return [
            Problem(
                LoadTestReason.PLACEMENT_NEEDS_SERVICE_REF,
                f"placement {placement.value} needs the target's pods, which only serviceRef can find; "
                "use placement Anywhere with url, or point serviceRef at the Service",
                "spec.loadGenerator.placement",
            )
        ]
    return []


def _check_workload(spec: LoadTestSpec) -> list[Problem]:
    workload = spec.workload
    field = "spec.workload"
    if workload.input_tokens is None and workload.dataset_config_map_ref is None:
        return [
            Problem(
                LoadTestReason.WORKLOAD_NOT_SET,
                "set inputTokens (synthetic prompts) or datasetConfigMapRef",
                field,
            )
        ]
    if workload.input_tokens is not None and workload.dataset_config_map_ref is not None:
        return [
            Problem(
                LoadTestReason.WORKLOAD_AMBIGUOUS,
                "set only one of inputTokens and datasetConfigMapRef",
                field,
            )
        ]
    problems: list[Problem] = []
    if workload.input_tokens is not None:
        input_problems = check_distribution(workload.input_tokens, f"{field}.inputTokens")
        problems += input_problems or _distribution_problems(
            shared_prefix_problems(workload.shared_prefix_tokens, workload.input_tokens),
            f"{field}.sharedPrefixTokens",
        )
        if workload.output_tokens is None:
            problems.append(
                Problem(
                    LoadTestReason.OUTPUT_TOKENS_NOT_SET,
                    "synthetic prompts need outputTokens, the completion length to request",
                    f"{field}.outputTokens",
                )
            )
    if workload.output_tokens is not None:
        problems += check_distribution(workload.output_tokens, f"{field}.outputTokens")
    return problems + _check_dataset_modes(spec)


def _check_dataset_modes(spec: LoadTestSpec) -> list[Problem]:
    """What needs a dataset, the Chat API, Concurrency mode or a stream, and says so."""
    workload = spec.workload
    field = "spec.workload"
    problems: list[Problem] = []
    dataset = workload.dataset_config_map_ref is not None
    if workload.dataset_output_tokens and not dataset:
        problems.append(
            Problem(
                LoadTestReason.DATASET_OUTPUT_NEEDS_DATASET,
                "datasetOutputTokens takes each answer's length from the dataset; set datasetConfigMapRef, "
                "or remove datasetOutputTokens and give outputTokens",
                f"{field}.datasetOutputTokens",
            )
        )
    elif workload.dataset_output_tokens and workload.output_tokens is not None:
        problems.append(
            Problem(
                LoadTestReason.OUTPUT_TOKENS_AMBIGUOUS,
                "set only one of outputTokens (lengths you choose) and datasetOutputTokens (the dataset's "
                "own answer lengths)",
                f"{field}.outputTokens",
            )
        )
    if workload.multi_turn is not None:
        if not dataset:
            problems.append(
                Problem(
                    LoadTestReason.MULTI_TURN_NEEDS_DATASET,
                    "multiTurn plays the dataset's conversations; set datasetConfigMapRef (ShareGPT JSON) "
                    "instead of inputTokens, or remove multiTurn",
                    f"{field}.multiTurn",
                )
            )
        if spec.target.api is Api.COMPLETIONS:
            problems.append(
                Problem(
                    LoadTestReason.MULTI_TURN_NEEDS_CHAT,
                    "the Completions API takes one prompt and has no turns; set target.api: Chat, or "
                    "remove multiTurn",
                    "spec.target.api",
                )
            )
        if spec.load.mode is LoadMode.RATE:
            problems.append(
                Problem(
                    LoadTestReason.MULTI_TURN_NEEDS_CONCURRENCY_MODE,
                    "a conversation's next turn is sent when the last one is answered, so its users are "
                    "concurrent users; set load.mode: Concurrency, or remove multiTurn",
                    f"{field}.multiTurn",
                )
            )
    slo = spec.slo
    if not workload.stream and slo is not None:
        unmeasurable = [
            name
            for name, value in (
                ("ttftMilliseconds", slo.ttft_milliseconds),
                ("tpotMilliseconds", slo.tpot_milliseconds),
            )
            if value is not None
        ]
        if unmeasurable:
            problems.append(
                Problem(
                    LoadTestReason.SLO_NEEDS_STREAM,
                    f"without a stream the whole answer arrives at once, so {' and '.join(unmeasurable)} "
                    "cannot be measured; set workload.stream: true, or judge e2eMilliseconds only",
                    f"spec.slo.{unmeasurable[0]}",
                )
            )
    return problems


# The one set of distribution rules is loadgen's (loadgen.distribution); each rule has its own reason here.
_DISTRIBUTION_REASONS: dict[DistributionCode, LoadTestReason] = {
    DistributionCode.PARAMETER_MISSING: LoadTestReason.DISTRIBUTION_PARAMETER_MISSING,
    DistributionCode.PARAMETER_UNUSED: LoadTestReason.DISTRIBUTION_PARAMETER_UNUSED,
    DistributionCode.RANGE_INVALID: LoadTestReason.DISTRIBUTION_RANGE_INVALID,
    DistributionCode.WITHOUT_SPREAD: LoadTestReason.DISTRIBUTION_WITHOUT_SPREAD,
    DistributionCode.SHARED_PREFIX_TOO_LONG: LoadTestReason.SHARED_PREFIX_TOO_LONG,
}


def _distribution_problems(found: list[DistributionProblem], field: str) -> list[Problem]:
    return [Problem(_DISTRIBUTION_REASONS[p.code], p.message, field) for p in found]


def check_distribution(dist: TokenDistribution, field: str) -> list[Problem]:
    """Problems with one token-count distribution (loadgen's rules): parameters missing, unused, out of
    order, or a Normal without spread."""
    return _distribution_problems(distribution_problems(dist), field)


def check_run_config(spec: LoadTestSpec) -> list[Problem]:
    """What the load generator itself refuses in the run config made from `spec`, with the spec field at
    fault, so that no spec is accepted here and then refused in the shard pods.

    The target is not resolved yet: a placeholder URL stands in for it. Every rule loadgen has should
    also have its own check above, with its own reason; this is the net under them (RunConfigInvalid)."""
    try:
        build_run_config(spec, VALIDATION_URL, spec.target.model)
    except ValidationError as error:
        return [
            Problem(
                LoadTestReason.RUN_CONFIG_INVALID,
                f"the load generator refuses this spec: {e['msg'].removeprefix('Value error, ')} "
                f"(its run-config field {'.'.join(str(part) for part in e['loc']) or '(config)'})",
                spec_field(e["loc"]),
            )
            for e in error.errors()
        ]
    except ValueError as error:  # a spec the checks above refuse (build_run_config's own precondition)
        return [Problem(LoadTestReason.RUN_CONFIG_INVALID, str(error), "spec")]
    return []


def _check_levels(spec: LoadTestSpec) -> list[Problem]:
    levels = spec.load.levels
    field = "spec.load.levels"
    problems: list[Problem] = []
    if not levels:
        return [Problem(LoadTestReason.LEVELS_NOT_SET, "give at least one load level", field)]
    if any(level < 1 for level in levels):
        problems.append(
            Problem(LoadTestReason.LEVEL_NOT_POSITIVE, f"every level must be at least 1, got {levels}", field)
        )
    duplicates = sorted({level for level in levels if levels.count(level) > 1})
    if duplicates:
        problems.append(
            Problem(LoadTestReason.LEVELS_NOT_UNIQUE, f"levels {duplicates} appear more than once", field)
        )
    elif levels != sorted(levels):
        problems.append(
            Problem(
                LoadTestReason.LEVELS_NOT_SORTED,
                f"list levels in ascending order, e.g. {sorted(levels)}",
                field,
            )
        )
    return problems


def _check_level_length(spec: LoadTestSpec) -> list[Problem]:
    load = spec.load
    field = "spec.load"
    if load.requests_per_level is None and load.level_duration_seconds is None:
        return [
            Problem(
                LoadTestReason.LEVEL_LENGTH_NOT_SET, "set requestsPerLevel or levelDurationSeconds", field
            )
        ]
    if load.requests_per_level is not None and load.level_duration_seconds is not None:
        return [
            Problem(
                LoadTestReason.LEVEL_LENGTH_AMBIGUOUS,
                "set only one of requestsPerLevel and levelDurationSeconds",
                field,
            )
        ]
    requests = load.requests_per_level
    if requests is not None and load.mode is LoadMode.CONCURRENCY and load.levels:
        too_high = [level for level in load.levels if level > requests]
        if too_high:
            return [
                Problem(
                    LoadTestReason.REQUESTS_BELOW_LEVEL,
                    f"requestsPerLevel ({requests}) is below levels {too_high}: those levels could never "
                    f"have that many requests in flight; raise requestsPerLevel to at least {max(too_high)}",
                    "spec.load.requestsPerLevel",
                )
            ]
    return []


def _check_mode_fields(spec: LoadTestSpec) -> list[Problem]:
    load = spec.load
    if load.mode is LoadMode.RATE:
        if load.ramp_up_seconds is None:
            return []
        return [
            Problem(
                LoadTestReason.RAMP_UP_NEEDS_CONCURRENCY_MODE,
                "rampUpSeconds starts a level's users gradually, which only Concurrency mode has; in Rate "
                "mode the levels are arrival rates: remove rampUpSeconds or set mode: Concurrency",
                "spec.load.rampUpSeconds",
            )
        ]
    problems: list[Problem] = []
    if load.arrival is not None:
        problems.append(
            Problem(
                LoadTestReason.ARRIVAL_NEEDS_RATE_MODE,
                "arrival only applies in Rate mode; remove it or set mode: Rate",
                "spec.load.arrival",
            )
        )
    if load.max_concurrency is not None:
        problems.append(
            Problem(
                LoadTestReason.MAX_CONCURRENCY_NEEDS_RATE_MODE,
                "in Concurrency mode the levels are the concurrency; remove maxConcurrency or set mode: Rate",
                "spec.load.maxConcurrency",
            )
        )
    return problems


def _check_shards(spec: LoadTestSpec) -> list[Problem]:
    generator = spec.load_generator
    load = spec.load
    shards = generator.parallelism
    field = "spec.loadGenerator.parallelism"
    problems: list[Problem] = []
    # Each shard must carry at least one unit of every level, or some shards would idle and the
    # level's load could not be split evenly.
    if load.mode is LoadMode.CONCURRENCY and load.levels and shards > min(load.levels):
        problems.append(
            Problem(
                LoadTestReason.TOO_MANY_SHARDS,
                f"parallelism ({shards}) exceeds the smallest level ({min(load.levels)}): every shard "
                f"needs at least one request in flight; set parallelism to at most {min(load.levels)}",
                field,
            )
        )
    if load.max_concurrency is not None and shards > load.max_concurrency:
        problems.append(
            Problem(
                LoadTestReason.TOO_MANY_SHARDS,
                f"parallelism ({shards}) exceeds maxConcurrency ({load.max_concurrency}); lower parallelism",
                field,
            )
        )
    if load.requests_per_level is not None and shards > load.requests_per_level:
        problems.append(
            Problem(
                LoadTestReason.TOO_MANY_SHARDS,
                f"parallelism ({shards}) exceeds requestsPerLevel ({load.requests_per_level}); "
                "every shard needs at least one request per level",
                field,
            )
        )
    minimum = generator.min_succeeded_shards
    if minimum is not None and minimum > shards:
        problems.append(
            Problem(
                LoadTestReason.MIN_SUCCEEDED_SHARDS_TOO_LARGE,
                f"minSucceededShards ({minimum}) exceeds parallelism ({shards}); the run could never succeed",
                "spec.loadGenerator.minSucceededShards",
            )
        )
    return problems


def _check_slo_and_criteria(spec: LoadTestSpec) -> list[Problem]:
    slo = spec.slo
    criteria = spec.success_criteria
    problems: list[Problem] = []
    if (
        slo is not None
        and slo.ttft_milliseconds is None
        and slo.tpot_milliseconds is None
        and (slo.e2e_milliseconds is None)
    ):
        problems.append(
            Problem(
                LoadTestReason.SLO_EMPTY,
                "set at least one of ttftMilliseconds, tpotMilliseconds, e2eMilliseconds, or remove slo",
                "spec.slo",
            )
        )
    if criteria is None:
        return problems
    for name, value in (
        ("minGoodputPercent", criteria.min_goodput_percent),
        ("minLevelWithinSlo", criteria.min_level_within_slo),
    ):
        if value is not None and slo is None:
            problems.append(
                Problem(
                    LoadTestReason.CRITERIA_NEED_SLO,
                    f"{name} judges requests against the SLO; add spec.slo",
                    f"spec.successCriteria.{name}",
                )
            )
    level = criteria.min_level_within_slo
    if level is not None and level not in spec.load.levels:
        problems.append(
            Problem(
                LoadTestReason.CRITERIA_LEVEL_UNKNOWN,
                f"minLevelWithinSlo ({level}) is not one of the levels {spec.load.levels}",
                "spec.successCriteria.minLevelWithinSlo",
            )
        )
    return problems


# ---- Checks against objects fetched from the cluster ------------------------------------------------


def check_service(service: Mapping[str, Any] | None, ref: ServiceRef) -> list[Problem]:
    """Problems with the target Service (`None` when it does not exist)."""
    field = "spec.target.serviceRef"
    if service is None:
        return [
            Problem(LoadTestReason.SERVICE_NOT_FOUND, f"no Service {ref.name!r} in this namespace", field)
        ]
    svc_spec: Mapping[str, Any] = service.get("spec") or {}
    problems: list[Problem] = []
    if svc_spec.get("type") == "ExternalName" or svc_spec.get("clusterIP") in (None, "", "None"):
        problems.append(
            Problem(
                LoadTestReason.SERVICE_WITHOUT_CLUSTER_IP,
                f"Service {ref.name!r} has no ClusterIP (headless or ExternalName); give it a ClusterIP "
                "or use url",
                field,
            )
        )
    if not svc_spec.get("selector"):
        problems.append(
            Problem(
                LoadTestReason.SERVICE_WITHOUT_SELECTOR,
                f"Service {ref.name!r} has no selector, so its pods cannot be found; add a selector",
                field,
            )
        )
    ports = sorted(p["port"] for p in svc_spec.get("ports") or [] if "port" in p)
    if ref.port not in ports:
        problems.append(
            Problem(
                LoadTestReason.SERVICE_PORT_NOT_FOUND,
                f"Service {ref.name!r} has no port {ref.port}; its ports are {ports}",
                f"{field}.port",
            )
        )
    return problems


def check_target_pods(pods: Sequence[Mapping[str, Any]], service_name: str) -> list[Problem]:
    """Problems with the pods the target Service selects: at least one must be running and ready."""
    if any(is_pod_ready(pod) for pod in pods):
        return []
    phases = sorted(str((pod.get("status") or {}).get("phase", "Unknown")) for pod in pods)
    seen = f"found {len(pods)} pod(s), phases {phases}" if pods else "its selector matches no pods"
    return [
        Problem(
            LoadTestReason.NO_READY_PODS,
            f"Service {service_name!r} selects no running, ready pod ({seen}); wait for the server to start",
            "spec.target.serviceRef",
        )
    ]


def check_secret_key(secret: Mapping[str, Any] | None, ref: SecretKeyRef, field: str) -> list[Problem]:
    """Problems with a Secret key reference (`secret` is None when the Secret does not exist)."""
    if secret is None:
        return [Problem(LoadTestReason.SECRET_NOT_FOUND, f"no Secret {ref.name!r} in this namespace", field)]
    keys = sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})
    if ref.key not in keys:
        return [
            Problem(
                LoadTestReason.SECRET_KEY_NOT_FOUND,
                # Never the other keys' names: the author may have no right to read this Secret.
                f"Secret {ref.name!r} has no key {ref.key!r}; check the key's name with the Secret's owner",
                field,
            )
        ]
    return []


def check_config_map_key(
    config_map: Mapping[str, Any] | None, ref: ConfigMapKeyRef, field: str
) -> list[Problem]:
    """Problems with a ConfigMap key reference (`config_map` is None when it does not exist)."""
    if config_map is None:
        return [
            Problem(
                LoadTestReason.CONFIG_MAP_NOT_FOUND, f"no ConfigMap {ref.name!r} in this namespace", field
            )
        ]
    keys = sorted({*(config_map.get("data") or {}), *(config_map.get("binaryData") or {})})
    if ref.key not in keys:
        return [
            Problem(
                LoadTestReason.CONFIG_MAP_KEY_NOT_FOUND,
                f"ConfigMap {ref.name!r} has no key {ref.key!r}; keys: {keys}",
                field,
            )
        ]
    return []
