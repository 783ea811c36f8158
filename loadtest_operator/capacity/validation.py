"""Semantic validation of a CapacityRecommendation spec: the cross-field rules a structural schema cannot
express. Problems use the LoadTest's `Problem` shape; every reason here is InvalidSpec (the message says
what to change)."""

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    LoadMode,
    ResolvedWorkload,
    SearchMode,
    TokenDistribution,
    WorkloadSource,
)
from loadtest_operator.api.conditions import CapacityReason
from loadtest_operator.capacity.children import child_spec
from loadtest_operator.core.problems import Problem
from loadtest_operator.loadtest.validation import check_distribution, validate_spec


def parse_capacity_spec(raw: Mapping[str, Any]) -> tuple[CapacityRecommendationSpec | None, list[Problem]]:
    """The spec as kopf hands it over, or the schema problems that stop it from parsing."""
    try:
        return CapacityRecommendationSpec.model_validate(raw), []
    except ValidationError as error:
        return None, [
            Problem(
                CapacityReason.INVALID_SPEC, str(e["msg"]), ".".join(["spec", *(str(p) for p in e["loc"])])
            )
            for e in error.errors()
        ]


def validate_capacity_spec(spec: CapacityRecommendationSpec) -> list[Problem]:
    """Every problem in `spec`; an empty list means the spec can be searched."""
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(CapacityReason.INVALID_SPEC, message, field))

    target = spec.target
    if (target.service_ref is None) == (target.url is None):
        bad("spec.target", "set exactly one of serviceRef and url")
    if spec.scale_deployment and spec.max_replicas is None:
        bad("spec.maxReplicas", "scaleDeployment needs maxReplicas: the most replicas the operator may set")
    if spec.scale_deployment and target.service_ref is None:
        bad(
            "spec.target.serviceRef",
            "scaleDeployment needs serviceRef, so the operator can check that the Deployment's pods back the "
            "target it measured",
        )
    workload = spec.workload
    peaks = [workload.peak_concurrency, workload.peak_requests_per_second, workload.from_prometheus]
    if sum(p is not None for p in peaks) != 1:
        bad("spec.workload", "set exactly one of peakConcurrency, peakRequestsPerSecond and fromPrometheus")
    if workload.from_prometheus is None:
        for name, tokens in (
            ("inputTokens", workload.input_tokens),
            ("outputTokens", workload.output_tokens),
        ):
            if tokens is None:
                bad(f"spec.workload.{name}", "required unless fromPrometheus derives it")
    for name, tokens in (("inputTokens", workload.input_tokens), ("outputTokens", workload.output_tokens)):
        if tokens is not None:
            # The LoadTest's (and so loadgen's) distribution rules, reported as this kind's InvalidSpec.
            problems += [
                Problem(CapacityReason.INVALID_SPEC, p.message, p.field)
                for p in check_distribution(tokens, f"spec.workload.{name}")
            ]
    slo = spec.slo
    if slo.ttft_milliseconds is None and slo.tpot_milliseconds is None and slo.e2e_milliseconds is None:
        bad("spec.slo", "set at least one of ttftMilliseconds, tpotMilliseconds and e2eMilliseconds")
    if (spec.requests_per_level is None) == (spec.level_duration_seconds is None):
        bad("spec", "set exactly one of requestsPerLevel and levelDurationSeconds")
    search = spec.search
    if search.mode is SearchMode.LEVELS:
        if not search.levels:
            bad("spec.search.levels", "Levels mode needs levels")
        elif search.levels != sorted(set(search.levels)):
            bad("spec.search.levels", "levels must be sorted ascending and unique")
    elif search.levels:
        bad("spec.search.levels", "levels are only used with mode Levels")
    return problems or _child_problems(spec)


def _child_problems(spec: CapacityRecommendationSpec) -> list[Problem]:
    """What the LoadTest validation would refuse in a child (placement with a url, shard counts, ...),
    checked on a probe child so that no child is ever created only to be rejected."""
    probe_tokens = TokenDistribution(mean=1)
    probe = ResolvedWorkload(
        source=WorkloadSource.SPEC,
        mode=LoadMode.RATE if spec.workload.peak_requests_per_second is not None else LoadMode.CONCURRENCY,
        peak=1,
        input_tokens=spec.workload.input_tokens or probe_tokens,
        output_tokens=spec.workload.output_tokens or probe_tokens,
    )
    return [
        Problem(
            CapacityReason.INVALID_SPEC,
            f"{p.message} (in the child LoadTests: {p.field})",
            _capacity_field(p.field),
        )
        for p in validate_spec(child_spec(spec, probe, 1))
    ]


def _capacity_field(field: str) -> str:
    """A child LoadTest's field path as the CapacityRecommendation field that sets it."""
    for child_prefix, own_prefix in (
        ("spec.load.requestsPerLevel", "spec.requestsPerLevel"),
        ("spec.load.levelDurationSeconds", "spec.levelDurationSeconds"),
        ("spec.load.", "spec."),
        ("spec.workload", "spec.workload"),
    ):
        if field.startswith(child_prefix):
            return own_prefix + field[len(child_prefix) :]
    return field
