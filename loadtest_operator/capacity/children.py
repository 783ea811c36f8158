"""Child LoadTests of a CapacityRecommendation: built here, read back here.

A child is an ordinary LoadTest (one level, one repeat) owned by its CapacityRecommendation through a
controller owner reference, so it runs through the very same path as a user's LoadTest and is
garbage-collected with its parent. Its name is deterministic,

    <parent name, shortened>-<token>-l<level>-r<repeat>        (at most 63 characters)

where <token> hashes the parent's uid with the *measurement* (what one measurement means: target, token
lengths, mode, objectives, level length, warm-up, timeout, load generator). A restarted operator therefore
finds the children it created (409 AlreadyExists is success), and a spec change that alters what is
measured starts a fresh search beside the old children, while a change of peak, headroom, cost, search
limits or repeats reuses every finished measurement.

The Deployment's facts at the time a child was created (ready replicas, GPUs per replica, tensor
parallel size, GPU product) are recorded in the child's annotations, so the recommendation divides by the
replicas that were actually measured, even after the Deployment has been scaled.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loadtest_operator.api import (
    API_VERSION,
    CAPACITY_KIND,
    KIND,
    CapacityRecommendationSpec,
    Condition,
    ConditionStatus,
    LevelResult,
    Load,
    LoadTestConditionType,
    LoadTestSpec,
    LoadTestStatus,
    ResolvedWorkload,
    Slo,
    Target,
    Workload,
)
from loadtest_operator.api.wire import to_wire
from loadtest_operator.capacity.deployment import DeploymentFacts
from loadtest_operator.core.names import MAX_LABEL_LENGTH, label_value, short_hash, trim_name
from loadtest_operator.core.owner import Owner, object_metadata

TOKEN_LENGTH = 6

PARENT_LABEL = "llmload.io/capacity-recommendation"
PARENT_UID_LABEL = "llmload.io/capacity-recommendation-uid"
MEASUREMENT_LABEL = "llmload.io/measurement"
LEVEL_LABEL = "llmload.io/level"
REPEAT_LABEL = "llmload.io/repeat"
REPLICAS_ANNOTATION = "llmload.io/measured-replicas"
GPUS_ANNOTATION = "llmload.io/measured-gpus-per-replica"
TP_ANNOTATION = "llmload.io/measured-tensor-parallel-size"
GPU_MODEL_ANNOTATION = "llmload.io/measured-gpu-model"


def parent_of(body: Mapping[str, Any]) -> Owner:
    """The CapacityRecommendation `body` as the owner of its children."""
    return Owner.of(body, kind=CAPACITY_KIND)


def measurement_hash(spec: CapacityRecommendationSpec, workload: ResolvedWorkload) -> str:
    """Ten hex characters identifying what one measurement means (see the module docstring)."""
    slo = spec.slo.model_dump(mode="json", exclude={"goodput_percent"}, exclude_none=True)
    target = spec.target.model_dump(mode="json", exclude_none=True)
    meaning = {
        "target": target,
        "mode": workload.mode.value,
        "input": workload.input_tokens.model_dump(mode="json", exclude_none=True),
        "output": workload.output_tokens.model_dump(mode="json", exclude_none=True),
        "slo": slo,
        "requests": spec.requests_per_level,
        "seconds": spec.level_duration_seconds,
        "warmup": spec.warmup_requests,
        "timeout": spec.timeout_seconds,
        "loadGenerator": spec.load_generator.model_dump(mode="json", exclude_none=True),
    }
    return short_hash(json.dumps(meaning, sort_keys=True), 10)


def child_name(parent: Owner, measurement: str, level: int, repeat: int) -> str:
    token = short_hash(f"{parent.uid}/{measurement}", TOKEN_LENGTH)
    suffix = f"-{token}-l{level}-r{repeat}"
    return trim_name(parent.name, MAX_LABEL_LENGTH - len(suffix)) + suffix


def child_labels(parent: Owner, measurement: str, level: int, repeat: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "llmload",
        "app.kubernetes.io/managed-by": "llmload-operator",
        "app.kubernetes.io/component": "capacity-measurement",
        PARENT_LABEL: label_value(parent.name),
        PARENT_UID_LABEL: parent.uid,
        MEASUREMENT_LABEL: measurement,
        LEVEL_LABEL: str(level),
        REPEAT_LABEL: str(repeat),
    }


def children_selector(parent: Owner) -> str:
    """Label selector of every child of `parent` (any measurement)."""
    return f"{PARENT_UID_LABEL}={parent.uid}"


def child_spec(spec: CapacityRecommendationSpec, workload: ResolvedWorkload, level: int) -> LoadTestSpec:
    """The LoadTest spec measuring `level` once."""
    return LoadTestSpec(
        target=Target.model_validate(spec.target.model_dump(exclude={"deployment_ref"})),
        workload=Workload(input_tokens=workload.input_tokens, output_tokens=workload.output_tokens),
        load=Load(
            mode=workload.mode,
            levels=[level],
            requests_per_level=spec.requests_per_level,
            level_duration_seconds=spec.level_duration_seconds,
            warmup_requests=spec.warmup_requests,
            timeout_seconds=spec.timeout_seconds,
        ),
        slo=Slo.model_validate(spec.slo.model_dump(exclude={"goodput_percent"})),
        load_generator=spec.load_generator,
        prometheus=spec.prometheus,
        validation=spec.validation,
    )


def build_child(
    parent: Owner,
    spec: CapacityRecommendationSpec,
    workload: ResolvedWorkload,
    level: int,
    repeat: int,
    facts: DeploymentFacts,
) -> dict[str, Any]:
    """The LoadTest manifest measuring `level` (repeat `repeat`) for `parent`."""
    measurement = measurement_hash(spec, workload)
    annotations = {
        REPLICAS_ANNOTATION: str(facts.current_replicas),
        GPUS_ANNOTATION: str(facts.gpus_per_replica),
        TP_ANNOTATION: str(facts.tensor_parallel_size),
    }
    if facts.gpu_model:
        annotations[GPU_MODEL_ANNOTATION] = facts.gpu_model
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_metadata(
            parent,
            child_name(parent, measurement, level, repeat),
            child_labels(parent, measurement, level, repeat),
            annotations,
        ),
        "spec": to_wire(child_spec(spec, workload, level)),
    }


class ChildState(StrEnum):
    RUNNING = "Running"
    MEASURED = "Measured"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class Child:
    """A child LoadTest as read back from the cluster."""

    name: str
    uid: str
    measurement: str
    level: int
    repeat: int
    state: ChildState
    facts: DeploymentFacts | None
    status: LoadTestStatus
    message: str = ""

    @property
    def goodput_percent(self) -> float | None:
        result = self.result
        if result is None:
            return None
        return result.goodput.percent if result.goodput is not None else 0.0

    @property
    def result(self) -> LevelResult | None:
        levels = self.status.levels or []
        return next((r for r in levels if r.level == self.level), None)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _facts(annotations: Mapping[str, Any]) -> DeploymentFacts | None:
    replicas, gpus, tp = (
        _int(annotations.get(key, "")) for key in (REPLICAS_ANNOTATION, GPUS_ANNOTATION, TP_ANNOTATION)
    )
    if replicas is None or gpus is None or tp is None:
        return None
    model = annotations.get(GPU_MODEL_ANNOTATION)
    return DeploymentFacts(replicas, gpus, tp, str(model) if model else None)


def _succeeded(conditions: list[Condition]) -> Condition | None:
    return next((c for c in conditions if c.type == LoadTestConditionType.SUCCEEDED), None)


def read_child(obj: Mapping[str, Any]) -> Child | None:
    """A child from a LoadTest object; None when it is not one of ours (labels missing or malformed)."""
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    level, repeat = _int(labels.get(LEVEL_LABEL, "")), _int(labels.get(REPEAT_LABEL, ""))
    measurement = labels.get(MEASUREMENT_LABEL)
    if level is None or repeat is None or not measurement:
        return None
    status = LoadTestStatus.model_validate(obj.get("status") or {})
    succeeded = _succeeded(status.conditions or [])
    has_result = any(r.level == level for r in status.levels or [])
    if succeeded is None or succeeded.status is ConditionStatus.UNKNOWN:
        state, message = ChildState.RUNNING, ""
    elif has_result:
        state, message = ChildState.MEASURED, ""
    else:
        state, message = ChildState.FAILED, f"{succeeded.reason}: {succeeded.message}"
    return Child(
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        measurement=str(measurement),
        level=level,
        repeat=repeat,
        state=state,
        facts=_facts(metadata.get("annotations") or {}),
        status=status,
        message=message,
    )


def energy_by_child(objects: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """GPU joules per 1k output tokens of each finished child, where its GPU metrics were collected."""
    out: dict[str, float] = {}
    for obj in objects:
        for level in (obj.get("status") or {}).get("levels") or []:
            joules = (level.get("gpu") or {}).get("joulesPer1kOutputTokens")
            if isinstance(joules, int | float):
                out[str(obj["metadata"]["name"])] = float(joules)
    return out
