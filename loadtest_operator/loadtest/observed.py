"""What one LoadTest tick observed, and the pure helpers the observer asks: what to read, which state
each shard is in, when a run has ended, each level's time window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from loadgen.result import RunResult
from loadtest_operator.api import (
    ConditionStatus,
    LevelResult,
    LoadTestConditionType,
    LoadTestSpec,
    LoadTestStatus,
)
from loadtest_operator.api.gpu import GpuDiscovery
from loadtest_operator.core.conditions import find_condition, is_condition_true, is_finished
from loadtest_operator.core.owner import Owner
from loadtest_operator.core.plan import InStore
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow
from loadtest_operator.loadtest.barrier import BARRIER_TIMEOUT_SECONDS
from loadtest_operator.loadtest.builders.configmaps import RUN_SPEC_KEY
from loadtest_operator.loadtest.builders.names import run_names
from loadtest_operator.loadtest.shards import (
    UNSCHEDULABLE_GRACE_SECONDS,
    ShardPhase,
    ShardState,
    observe_shards,
    summarize_progress,
)
from loadtest_operator.loadtest.validation import parse_spec

Status = LoadTestStatus
C = LoadTestConditionType


class Reads(StrEnum):
    """What a tick needs from the cluster beyond the LoadTest itself."""

    NOTHING = "Nothing"
    TARGET = "Target"  # Service, pods, nodes, Secret, ConfigMap, /v1/models: to start a run
    CHILDREN = "Children"  # the run's Jobs, pods and result ConfigMaps: to follow a run
    STORE = "Store"  # whether the SQL store holds the finished run (asked once per run per process)


@dataclass(frozen=True)
class TargetFacts:
    """The objects the spec names, as read from the cluster (None: not found / not asked)."""

    service: Mapping[str, Any] | None = None
    pods: Sequence[Mapping[str, Any]] = ()
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secret: Mapping[str, Any] | None = None
    dataset: Mapping[str, Any] | None = None
    discovered_model: str | None = None  # the first of /v1/models, when the spec names none
    server_version: str | None = None  # what GET /version answered (vLLM's version)
    # Jobs of an earlier run of this LoadTest still there after a runId change: stopped before the new run.
    stale_jobs: Sequence[str] = ()
    # Why the operator will not send requests to the target's address (the fetch policy), if it will not.
    refused_address: str | None = None
    # False when the operator reads no Secrets (the chart's rbac.readSecrets=false): the shard pod's
    # secretKeyRef is then the only check that the key exists (a missing key fails the shard's pod).
    secret_read: bool = True


@dataclass(frozen=True)
class GpuFigures:
    discovery: GpuDiscovery
    levels: Sequence[LevelMetrics]


@dataclass(frozen=True)
class Children:
    """The objects of the current run, selected by its labels."""

    jobs: Sequence[Mapping[str, Any]] = ()
    pods: Sequence[Mapping[str, Any]] = ()
    config_maps: Sequence[Mapping[str, Any]] = ()
    # Read only once every shard has ended: the shards' results merged exactly, and what Prometheus said
    # about the levels' windows.
    merged: RunResult | None = None
    gpu: GpuFigures | None = None
    log_tail: str = ""  # of the first failed shard's pod
    # Events of the Jobs that have no pod yet (why the Job controller could not create one).
    job_events: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    # By shard index: why the result a shard wrote cannot be read (the plan fails those shards).
    unreadable: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    default_image: str
    store_configured: bool
    unschedulable_grace_seconds: float = UNSCHEDULABLE_GRACE_SECONDS
    barrier_timeout_seconds: float = BARRIER_TIMEOUT_SECONDS
    # docs/security.md: images a spec may name (empty: default_image only); whether an admission webhook
    # reviewed the author's rights (else referenced Secrets must opt in); whether the operator reads Secrets.
    allowed_images: Sequence[str] = ()
    admission_webhook: bool = False
    read_secrets: bool = True
    # With a webhook installed: why it never reviewed this LoadTest (core/reviewed.py); the opt-in rule
    # of an operator without a webhook then holds for it (admission_webhook is False).
    unreviewed: str | None = None


@dataclass(frozen=True)
class Observed:
    owner: Owner
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    now: datetime
    settings: Settings
    deleting: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)  # the object's metadata (who reviewed it)
    target: TargetFacts | None = None
    children: Children | None = None
    in_store: InStore | None = None  # asked for a finished run when a store is configured


# -- what to read -------------------------------------------------------------------------------------


def reads(spec: Mapping[str, Any], status: Mapping[str, Any], deleting: bool = False) -> Reads:
    parsed, _ = parse_spec(spec)
    if deleting or parsed is None:
        return Reads.NOTHING
    previous = Status.model_validate(status)
    conditions = previous.conditions or []
    same_run = previous.run_id == parsed.run_id
    if same_run and is_finished(conditions):
        return Reads.STORE
    if same_run and rejected_already(previous, parsed.run_id, None):
        return Reads.NOTHING
    if same_run and is_condition_true(conditions, C.ACCEPTED):
        return Reads.CHILDREN
    return Reads.TARGET


def result_config_maps(observed: Observed, spec: LoadTestSpec) -> list[Mapping[str, Any]]:
    """The current run's result ConfigMaps, one per shard (as far as they exist)."""
    children = observed.children or Children()
    result_names = set(run_names(observed.owner, spec.run_id).result_config_maps(shard_count(spec)))
    return [cm for cm in children.config_maps if cm["metadata"]["name"] in result_names]


def shard_states(observed: Observed, spec: LoadTestSpec) -> list[ShardState]:
    """The state of every shard of the current run (the observer asks, to know when to merge)."""
    children = observed.children or Children()
    results = result_config_maps(observed, spec)
    return observe_shards(
        shard_count(spec), children.jobs, children.pods, results, observed.now,
        observed.settings.unschedulable_grace_seconds, children.unreadable,
    )  # fmt: skip


def run_ended(spec: LoadTestSpec, shards: Sequence[ShardState]) -> bool:
    """Every shard has ended, or too many failed for the run to succeed."""
    return too_many_failed(spec, shards) or summarize_progress(shards).running == 0


def level_windows(merged: RunResult, levels: Sequence[LevelResult]) -> list[LevelWindow]:
    """Each level's time window and client figures, for the Prometheus queries. The client's latency is
    from the send (vLLM's clock starts when the request arrives), not Rate mode's from-schedule headline."""
    windows = []
    for raw, lv in zip(merged.levels, levels, strict=True):
        ttft, e2e = lv.ttft_from_send or lv.ttft, lv.e2e_from_send or lv.e2e
        windows.append(
            LevelWindow(
                start=raw.start,
                end=raw.end,
                output_tokens=raw.output_tokens_total,
                client_ttft_ms=ttft.mean if ttft else None,
                client_e2e_ms=e2e.mean if e2e else None,
                client_successes=raw.successes,
                client_input_tokens=raw.input_tokens_total,
            )
        )
    return windows


def shard_count(spec: LoadTestSpec) -> int:
    return spec.load_generator.parallelism


def too_many_failed(spec: LoadTestSpec, shards: Sequence[ShardState]) -> bool:
    needed = spec.load_generator.min_succeeded_shards or shard_count(spec)
    failed = sum(s.phase is ShardPhase.FAILED for s in shards)
    return failed > 0 and len(shards) - failed < needed


def rejected_already(previous: Status, run_id: int, generation: int | None) -> bool:
    accepted = find_condition(previous.conditions or [], C.ACCEPTED)
    return (
        accepted is not None
        and accepted.status is ConditionStatus.FALSE
        and previous.run_id == run_id
        and (generation is None or previous.observed_generation == generation)
    )


def run_spec(observed: Observed, live: LoadTestSpec) -> LoadTestSpec:
    """The spec the current run started with (its snapshot in the run-config ConfigMap), so edits after
    the start change nothing but runId; the live spec when no snapshot can be read."""
    name = run_names(observed.owner, live.run_id).run_config_map
    children = observed.children or Children()
    config_map = next((cm for cm in children.config_maps if cm["metadata"]["name"] == name), None)
    text = ((config_map or {}).get("data") or {}).get(RUN_SPEC_KEY)
    if not text:
        return live
    try:
        snapshot = LoadTestSpec.model_validate_json(text)
    except ValueError:
        return live
    return snapshot.model_copy(update={"run_id": live.run_id})


def previous_run_active(status: Mapping[str, Any], live: LoadTestSpec) -> int | None:
    """The runId of an earlier run that was started and has not ended, when spec.runId moved on."""
    previous = Status.model_validate(status)
    conditions = previous.conditions or []
    if previous.run_id is None or previous.run_id == live.run_id or is_finished(conditions):
        return None
    return previous.run_id if is_condition_true(conditions, C.ACCEPTED) else None
