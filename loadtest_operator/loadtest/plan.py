"""One LoadTest tick, decided purely: what was observed in, the status and the actions out.

Level-triggered: the same function runs on every tick and derives everything from observed state, so an
operator restart at any moment neither loses nor duplicates a run. The stages:

  not accepted for this runId  → validate (spec + cluster) → resolve target → create the run's objects
  accepted, shards running     → progress into status
  every shard finished         → merged result (+ GPU figures) → status, store, events, metrics
  a shard failed               → Succeeded=False with the reason; the other shards' Jobs are deleted
  finished                     → nothing (a spec change does not re-run; bump spec.runId), except a
                                 store write that has not landed yet, or a store that lacks the run

What a tick observed, and what it needs to read, are in `observed.py`; `plan(...)` decides.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loadtest_operator.api import (
    ConditionStatus,
    LoadTestConditionType,
    LoadTestReason,
    LoadTestSpec,
    LoadTestStatus,
    Progress,
    ResolvedTarget,
)
from loadtest_operator.api.wire import to_wire
from loadtest_operator.core.conditions import (
    derive_phase,
    find_condition,
    is_condition_true,
    is_finished,
    set_condition,
)
from loadtest_operator.core.names import short_hash
from loadtest_operator.core.owner import Owner
from loadtest_operator.core.plan import (
    Delete,
    Event,
    InStore,
    LiveLevel,
    PatchData,
    Plan,
    RunEnded,
    RunRecord,
    StoreFailure,
    StoreWrite,
)
from loadtest_operator.core.problems import Problem, summarize
from loadtest_operator.loadtest.agreement import agreement
from loadtest_operator.loadtest.barrier import (
    alignment,
    decide,
    not_ready_message,
    running_barriers,
)
from loadtest_operator.loadtest.builders.configmaps import (
    RunConfigTooLargeError,
    build_result_config_map,
    build_run_config_config_map,
)
from loadtest_operator.loadtest.builders.deadline import shard_deadline_seconds
from loadtest_operator.loadtest.builders.job import ShardJobInputs, build_shard_job
from loadtest_operator.loadtest.builders.names import run_names
from loadtest_operator.loadtest.builders.rbac import build_role, build_role_binding, build_service_account
from loadtest_operator.loadtest.fingerprint import target_fingerprint, with_gpus
from loadtest_operator.loadtest.level_status import levels_status
from loadtest_operator.loadtest.live import ended_progress, live_level, running_progress
from loadtest_operator.loadtest.observed import (
    Children,
    Observed,
    TargetFacts,
    rejected_already,
    result_config_maps,
    run_spec,
    shard_count,
    shard_states,
    too_many_failed,
)
from loadtest_operator.loadtest.results import best_goodput_level, evaluate_success_criteria, summary_line
from loadtest_operator.loadtest.run_config import render_run_config
from loadtest_operator.loadtest.safety import address_problems, image_problems, secret_problems
from loadtest_operator.loadtest.shards import (
    ShardPhase,
    ShardState,
    parse_time,
    shard_index,
    summarize_progress,
)
from loadtest_operator.loadtest.target import resolve_target, service_selector
from loadtest_operator.loadtest.validation import (
    check_config_map_key,
    check_secret_key,
    check_service,
    check_target_pods,
    parse_spec,
    validate_spec,
)

Status = LoadTestStatus
# How long past the shards' own deadline the operator waits before it ends a run itself.
OPERATOR_DEADLINE_SLACK_SECONDS = 120
C = LoadTestConditionType
R = LoadTestReason


# -- the decision ---------------------------------------------------------------------------------------


@dataclass
class _Tick:
    """The status being built during one plan, with its conditions' bookkeeping."""

    observed: Observed
    status: Status
    events: list[Event] = field(default_factory=list)

    def set(self, type_: C, status: ConditionStatus, reason: str, message: str) -> None:
        conditions = set_condition(
            self.status.conditions or [], type_, status, reason, message,
            now=self.observed.now, observed_generation=self.observed.generation,
        )  # fmt: skip
        self.status = self.status.model_copy(
            update={"conditions": conditions, "phase": derive_phase(conditions)}
        )

    def update(self, **fields: Any) -> None:
        self.status = self.status.model_copy(update=fields)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message[:1024]))


def plan(observed: Observed) -> Plan:
    previous = Status.model_validate(observed.status)
    tick = _Tick(observed, previous)
    spec, problems = parse_spec(observed.spec)
    if observed.deleting:
        return Plan(status=previous)
    if spec is None:
        run_id = previous.run_id or 0
        if not rejected_already(previous, run_id, observed.generation):
            _reject(tick, run_id, problems)
        return _plan(tick)
    conditions = previous.conditions or []
    same_run = previous.run_id == spec.run_id
    if same_run and is_finished(conditions):
        return _plan(tick, store=_store(tick, spec, final=True) if _store_again(observed) else None)
    if same_run and rejected_already(previous, spec.run_id, observed.generation):
        return _plan(tick)
    if not (same_run and is_condition_true(conditions, C.ACCEPTED)):
        return _start(tick, spec)
    return _follow(tick, run_spec(tick.observed, spec))


def planted(observed: Observed, message: str, own_jobs: Sequence[str]) -> Plan:
    """The run refused because an object under one of its children's names is not this LoadTest's (the
    executor found it when creating): Accepted=False ChildNotOwned, and the Jobs this LoadTest had already
    created for the run are stopped; the planted object is never touched."""
    tick = _Tick(observed, Status.model_validate(observed.status))
    spec, _ = parse_spec(observed.spec)
    run_id = spec.run_id if spec is not None else 0
    _reject(tick, run_id, [Problem(R.CHILD_NOT_OWNED, message, "metadata.name")])
    store = _store(tick, spec, final=True) if spec is not None else None
    return _plan(tick, delete=[Delete("Job", name) for name in own_jobs], store=store)


def _plan(
    tick: _Tick,
    *,
    create: Sequence[dict[str, Any]] = (),
    delete: Sequence[Delete] = (),
    patch: Sequence[PatchData] = (),
    store: StoreWrite | None = None,
    ended: RunEnded | None = None,
    observed: Sequence[LiveLevel] = (),
) -> Plan:
    return Plan(
        status=tick.status,
        create=tuple(create),
        delete=tuple(delete),
        patch=tuple(patch),
        events=tuple(tick.events),
        store=store,
        observations=((ended,) if ended else ()) + tuple(observed),
    )


# -- start: validate, resolve, create the run's objects -------------------------------------------------


def _start(tick: _Tick, spec: LoadTestSpec) -> Plan:
    facts = tick.observed.target or TargetFacts()
    problems = (
        validate_spec(spec) or _safety_problems(tick.observed, spec, facts) or _cluster_problems(spec, facts)
    )
    target: ResolvedTarget | None = None
    manifests: list[dict[str, Any]] = []
    ready = [p for p in facts.pods if (p.get("status") or {}).get("phase") == "Running"]
    if not problems:
        target = resolve_target(spec, facts.service, ready, facts.nodes)
        target = target.model_copy(update={"model": target.model or facts.discovered_model})
        try:
            manifests = _run_objects(tick.observed, spec, target, facts)
        except RunConfigTooLargeError as exc:
            problems = [Problem(R.RUN_CONFIG_TOO_LARGE, str(exc), "spec.workload")]
        except ValueError as exc:  # loadgen refuses the config with the resolved URL or model
            problems = [Problem(R.RUN_CONFIG_INVALID, str(exc), "spec.target")]
    # A runId change stops the earlier run's shards first: they must not load the target beside the new run.
    stop = [Delete("Job", name) for name in facts.stale_jobs]
    if problems or target is None:
        _reject(tick, spec.run_id, problems)
        return _plan(tick, delete=stop, store=_store(tick, spec, final=True))
    shards = shard_count(spec)
    # An earlier run's verdict on its shards' alignment says nothing of this one.
    tick.update(conditions=[c for c in tick.status.conditions or [] if c.type != C.SHARDS_ALIGNED] or None)
    tick.set(C.ACCEPTED, ConditionStatus.TRUE, R.VALID, "spec and target are valid")
    tick.set(C.RUNNING, ConditionStatus.TRUE, R.SHARDS_STARTING, f"{shards} load-generator shard(s) created")
    tick.set(C.SUCCEEDED, ConditionStatus.UNKNOWN, R.RUN_IN_PROGRESS, "")
    tick.update(
        run_id=spec.run_id,
        observed_generation=tick.observed.generation,
        start_time=tick.observed.now,
        completion_time=None,
        levels=None,
        best_goodput_level=None,
        summary=None,
        target=target,
        fingerprint=target_fingerprint(ready, facts.server_version),
        validation=None,
        progress=Progress(total_requests=_total_requests(spec)),
        seed=run_seed(tick.observed.owner, spec),
    )
    tick.event(
        "Normal",
        "Started",
        f"run {spec.run_id}: {len(spec.load.levels)} level(s) {spec.load.levels} against "
        f"{target.display} ({target.model or 'model from /v1/models'}), {shards} shard(s)",
    )
    return _plan(
        tick, create=manifests, delete=stop, store=_store(tick, spec, final=False, model=target.model)
    )


def run_seed(owner: Owner, spec: LoadTestSpec) -> int:
    """The run's seed: the spec's, else one of its own per LoadTest and runId (recorded in status.seed,
    so the run can be repeated exactly with spec.loadGenerator.seed)."""
    if spec.load_generator.seed is not None:
        return spec.load_generator.seed
    return int(short_hash(f"{owner.uid}/{spec.run_id}/seed", 8), 16) % 2_147_483_648


def _safety_problems(observed: Observed, spec: LoadTestSpec, facts: TargetFacts) -> list[Problem]:
    settings = observed.settings
    allowed = list(settings.allowed_images) or [settings.default_image]
    return (
        image_problems(observed.spec, allowed)
        or address_problems(facts.refused_address)
        or secret_problems(
            spec,
            facts.secret,
            webhook=settings.admission_webhook,
            unreviewed=settings.unreviewed,
            secret_read=facts.secret_read,
        )
    )


def _cluster_problems(spec: LoadTestSpec, facts: TargetFacts) -> list[Problem]:
    problems: list[Problem] = []
    ref = spec.target.service_ref
    if ref is not None:
        problems += check_service(facts.service, ref)
        if facts.service is not None and not problems:
            problems += check_target_pods(facts.pods, ref.name)
    key_ref = spec.target.api_key_secret_ref
    if key_ref is not None and facts.secret_read:
        problems += check_secret_key(facts.secret, key_ref, "spec.target.apiKeySecretRef")
    dataset = spec.workload.dataset_config_map_ref
    if dataset is not None:
        problems += check_config_map_key(facts.dataset, dataset, "spec.workload.datasetConfigMapRef")
    return problems


def _run_objects(
    observed: Observed, spec: LoadTestSpec, target: ResolvedTarget, facts: TargetFacts
) -> list[dict[str, Any]]:
    owner, run_id, shards = observed.owner, spec.run_id, shard_count(spec)
    seeded = spec.model_copy(
        update={"load_generator": spec.load_generator.model_copy(update={"seed": run_seed(owner, spec)})}
    )
    run_config = render_run_config(seeded, target.url or "", target.model)
    pods = list(facts.pods)
    inputs = ShardJobInputs(
        default_image=observed.settings.default_image,
        target_selector=service_selector(facts.service) if facts.service else {},
        target_tolerations=(pods[0].get("spec") or {}).get("tolerations") or [] if pods else [],
    )
    return [
        build_service_account(owner, run_id),
        build_role(owner, run_id, shards),
        build_role_binding(owner, run_id),
        build_run_config_config_map(
            owner, run_id, run_config, spec.model_dump_json(by_alias=True, exclude_none=True)
        ),
        *(build_result_config_map(owner, run_id, i) for i in range(shards)),
        *(build_shard_job(owner, spec, i, inputs) for i in range(shards)),
    ]


# -- follow: progress, failure, completion --------------------------------------------------------------


def _follow(tick: _Tick, spec: LoadTestSpec) -> Plan:
    shards = shard_states(tick.observed, spec)
    progress = summarize_progress(shards)
    failed = [s for s in shards if s.phase is ShardPhase.FAILED]
    if too_many_failed(spec, shards):
        return _fail(tick, spec, failed[0], shards)
    if progress.running == 0:
        return _complete(tick, spec, [s for s in shards if s.phase is ShardPhase.SUCCEEDED], failed)
    refused = _pod_refused(tick, shards)
    if refused is not None:
        return _fail(tick, spec, refused, shards)
    overdue = _overdue(tick, spec)
    if overdue is not None:
        return _fail(tick, spec, overdue, shards)
    barrier = _barrier(tick, spec, shards)
    if isinstance(barrier, ShardState):
        return _fail(tick, spec, barrier, shards)
    tick.update(progress=running_progress(spec, shards, tick.observed.now, _total_requests(spec)))
    children = tick.observed.children or Children()
    running_pods = sum(1 for p in children.pods if (p.get("status") or {}).get("phase") == "Running")
    before = find_condition(tick.status.conditions or [], C.RUNNING)
    if running_pods and before is not None and before.reason != R.SHARDS_RUNNING:
        message = f"{running_pods} shard pod(s) running"
        tick.set(C.RUNNING, ConditionStatus.TRUE, R.SHARDS_RUNNING, message)
        tick.event("Normal", "Running", message)
    live = live_level(tick.status.progress) if tick.status.progress else None
    return _plan(tick, observed=(live,) if live else (), patch=barrier)


def _barrier(tick: _Tick, spec: LoadTestSpec, shards: Sequence[ShardState]) -> list[PatchData] | ShardState:
    """The start signals to write this tick (every running shard is ready for a level), or the failure
    when some shards have waited for the others past the barrier timeout. One shard needs no barrier."""
    if shard_count(spec) < 2:
        return []
    barriers = running_barriers(shards, result_config_maps(tick.observed, spec))
    decision = decide(
        barriers,
        tick.observed.now.timestamp(),
        timeout_seconds=tick.observed.settings.barrier_timeout_seconds,
    )
    if decision.not_ready is not None:
        missing = decision.not_ready.missing
        return ShardState(
            index=missing[0] if missing else -1,
            phase=ShardPhase.FAILED,
            reason=R.SHARDS_NOT_READY,
            message=not_ready_message(decision.not_ready, shards, barriers),
        )
    by_map: dict[str, list[tuple[str, str]]] = {}
    for write in decision.writes:
        by_map.setdefault(write.config_map, []).append((write.key, write.value))
    levels = sorted({int(w.key.rsplit(".", 1)[1]) for w in decision.writes})
    for level in levels:
        tick.event(
            "Normal",
            "LevelStarting",
            f"level {spec.load.levels[level] if level < len(spec.load.levels) else level} (index {level}) "
            f"starts on {len(by_map)} shard(s) together",
        )
    return [PatchData(name, tuple(data)) for name, data in sorted(by_map.items())]


def _pod_refused(tick: _Tick, shards: Sequence[ShardState]) -> ShardState | None:
    """A shard whose Job has been refused a pod (FailedCreate) for longer than the unschedulable grace:
    a ResourceQuota, LimitRange or admission policy said no, and the run would otherwise wait forever."""
    children = tick.observed.children or Children()
    grace = tick.observed.settings.unschedulable_grace_seconds
    for shard in shards:
        if shard.phase is not ShardPhase.PENDING:
            continue
        job = next((j for j in children.jobs if shard_index(j) == shard.index), None)
        if job is None:
            continue
        refusals = [
            e
            for e in children.job_events.get(str(job["metadata"]["name"]), ())
            if e.get("reason") == "FailedCreate"
        ]
        created = parse_time(job["metadata"].get("creationTimestamp"))
        waited = (tick.observed.now - created).total_seconds() if created else grace
        if refusals and waited >= grace:
            message = str(refusals[-1].get("message") or "the Job could not create its pod")
            return ShardState(
                index=shard.index,
                phase=ShardPhase.FAILED,
                reason=R.SHARD_POD_REFUSED,
                message=f"shard {shard.index}: its pod was refused: {message}",
            )
    return None


def _overdue(tick: _Tick, spec: LoadTestSpec) -> ShardState | None:
    """The operator's own deadline: a run still going this long after its start fails, even where the
    Jobs' activeDeadlineSeconds never started (a pod that never got created, a stuck admission)."""
    started = tick.status.start_time
    limit = shard_deadline_seconds(spec) + OPERATOR_DEADLINE_SLACK_SECONDS
    if started is None or (tick.observed.now - started).total_seconds() <= limit:
        return None
    return ShardState(
        index=-1,
        phase=ShardPhase.FAILED,
        reason=R.DEADLINE_EXCEEDED,
        message=f"the run is still not done {limit} s after it started (the shards' deadline plus "
        f"{OPERATOR_DEADLINE_SLACK_SECONDS} s); set spec.loadGenerator.deadlineSeconds if it needs longer",
    )


def _fail(tick: _Tick, spec: LoadTestSpec, first: ShardState, shards: Sequence[ShardState]) -> Plan:
    message = first.message or "a shard failed"
    tail = (tick.observed.children or Children()).log_tail.strip()
    if first.pod_for_logs and tail:
        message += "; last log lines:\n" + tail[-1500:]
    reason = first.reason or R.SHARD_FAILED
    # The run is void: stop the other shards instead of letting them load the server for nothing.
    names = run_names(tick.observed.owner, spec.run_id)
    stop = [
        Delete("Job", names.job(s.index))
        for s in shards
        if s.phase in (ShardPhase.RUNNING, ShardPhase.PENDING)
    ]
    _finish(tick, spec, ConditionStatus.FALSE, reason, message)
    tick.update(progress=ended_progress(tick.status.progress))
    tick.event("Warning", reason, message)
    ended = RunEnded(reason=reason, model=_model(tick.status))
    return _plan(tick, delete=stop, store=_store(tick, spec, final=True), ended=ended)


def _complete(
    tick: _Tick, spec: LoadTestSpec, done: Sequence[ShardState], failed: Sequence[ShardState]
) -> Plan:
    children = tick.observed.children or Children()
    merged = children.merged
    if merged is None:  # the observer reads the results on the tick that sees the last shard end
        return _plan(tick)
    levels = levels_status(merged)
    if children.gpu is not None:
        gpu = children.gpu
        tick.set(
            C.GPU_METRICS_AVAILABLE,
            ConditionStatus.TRUE if gpu.discovery.available else ConditionStatus.FALSE,
            gpu.discovery.reason.value,
            gpu.discovery.message,
        )
        tick.update(
            gpu_discovery=gpu.discovery,
            fingerprint=with_gpus(
                tick.status.fingerprint, gpu.discovery.gpu_models, gpu.discovery.driver_versions
            ),
        )
        levels = [
            lv.model_copy(update={"gpu": m.gpu, "server": m.server, "validation": m.validation})
            for lv, m in zip(levels, gpu.levels, strict=True)
        ]
        agreed = agreement(levels, spec.validation.tolerance_percent)
        tick.set(C.SERVER_AGREEMENT, agreed.status, agreed.reason, agreed.message)
        tick.update(validation=agreed.summary)
    summary = summary_line(levels)
    if failed:
        summary += f" (partial: {len(done)} of {len(done) + len(failed)} shards)"
    tick.update(
        levels=levels,
        best_goodput_level=best_goodput_level(levels),
        summary=summary,
        progress=Progress(
            completed_requests=sum(lv.requests for lv in levels),
            total_requests=_total_requests(spec),
            shards_succeeded=len(done),
            shards_failed=len(failed),
            percent=100,
        ),
    )
    if merged.model and tick.status.target is not None and tick.status.target.model != merged.model:
        tick.update(target=tick.status.target.model_copy(update={"model": merged.model}))
    if shard_count(spec) > 1:
        aligned, why = alignment(levels)
        if aligned:
            tick.set(C.SHARDS_ALIGNED, ConditionStatus.TRUE, R.SHARDS_OVERLAPPED, why)
        else:
            tick.set(C.SHARDS_ALIGNED, ConditionStatus.FALSE, R.SHARDS_MISALIGNED, why)
            tick.event("Warning", R.SHARDS_MISALIGNED, why)
    criteria_problems = evaluate_success_criteria(spec.success_criteria, levels)
    if criteria_problems:
        reason, message = summarize(criteria_problems)
        _finish(tick, spec, ConditionStatus.FALSE, reason, message)
        tick.event("Warning", reason, message)
    else:
        reason = R.COMPLETED
        _finish(tick, spec, ConditionStatus.TRUE, reason, summary)
        tick.event("Normal", reason, summary)
    ended = RunEnded(reason=reason, model=merged.model or _model(tick.status), levels=tuple(levels))
    return _plan(tick, store=_store(tick, spec, final=True, model=merged.model or None), ended=ended)


def _finish(tick: _Tick, spec: LoadTestSpec, outcome: ConditionStatus, reason: str, message: str) -> None:
    tick.set(C.RUNNING, ConditionStatus.FALSE, R.RUN_FINISHED, "")
    tick.set(C.SUCCEEDED, outcome, reason, message)
    tick.update(
        completion_time=tick.observed.now, run_id=spec.run_id, observed_generation=tick.observed.generation
    )


# -- rejection ------------------------------------------------------------------------------------------


def _reject(tick: _Tick, run_id: int, problems: list[Problem]) -> None:
    reason, message = summarize(problems)
    tick.set(C.ACCEPTED, ConditionStatus.FALSE, reason, message)
    tick.set(C.RUNNING, ConditionStatus.FALSE, reason, "not started: the spec was not accepted")
    tick.set(C.SUCCEEDED, ConditionStatus.FALSE, reason, message)
    tick.update(run_id=run_id, observed_generation=tick.observed.generation)
    tick.event("Warning", reason, message)


# -- the SQL store --------------------------------------------------------------------------------------


def _store(tick: _Tick, spec: LoadTestSpec, *, final: bool, model: str | None = None) -> StoreWrite | None:
    """The run's row for the store, from the status this tick ends with. A final write reports its outcome
    in the Stored condition; a "started" write that fails is simply written again at the end."""
    if not tick.observed.settings.store_configured:
        return None
    status = tick.status
    succeeded = find_condition(status.conditions or [], C.SUCCEEDED)
    record = RunRecord(
        uid=tick.observed.owner.uid,
        namespace=tick.observed.owner.namespace,
        name=tick.observed.owner.name,
        spec=spec,
        phase=derive_phase(status.conditions or []).value,
        reason=succeeded.reason if succeeded is not None else None,
        started_at=status.start_time or tick.observed.now,
        finished_at=status.completion_time,
        updated_at=tick.observed.now,
        model=model or _model(status) or None,
        best_goodput_level=status.best_goodput_level,
        summary={k: v for k, v in to_wire(status).items() if k != "levels"},
        levels=tuple(status.levels or ()),
        labels=tuple(sorted((str(k), str(v)) for k, v in (tick.observed.meta.get("labels") or {}).items())),
    )
    if not final:
        return StoreWrite(replace(record, levels=None))
    return StoreWrite(record, settle=functools.partial(_stored, tick.observed, status))


def _store_again(observed: Observed) -> bool:
    """Whether a finished run is written (again): the Stored condition says what this run's writes did,
    the store (asked once per process) whether the row is still there. A store that lacks the run (new,
    emptied, restored from an old backup) gets it again whatever the condition says; a record the store
    refused is not resent by the process it refused it to."""
    if not observed.settings.store_configured:
        return False
    stored = find_condition(Status.model_validate(observed.status).conditions or [], C.STORED)
    if observed.in_store is InStore.MISSING:
        return True
    if observed.in_store is InStore.REJECTED:
        return stored is None or stored.reason != R.STORE_REJECTED
    return stored is None or stored.status is not ConditionStatus.TRUE


def _stored(observed: Observed, status: Status, failure: StoreFailure | None) -> Status:
    """`status` with the Stored condition for the outcome of the final store write."""
    tick = _Tick(observed, status)
    if failure is None:
        tick.set(C.STORED, ConditionStatus.TRUE, R.STORED, "run and per-level results are in the SQL store")
    elif failure.rejected:
        message = (
            "the SQL store refused the run's values (results stay in status and the result ConfigMaps; "
            f"written again when the operator restarts): {failure.message}"
        )
        tick.set(C.STORED, ConditionStatus.FALSE, R.STORE_REJECTED, message[:1000])
    else:
        message = (
            f"results are kept in status and the result ConfigMaps until the store is back: {failure.message}"
        )
        tick.set(C.STORED, ConditionStatus.FALSE, R.DATABASE_UNAVAILABLE, message[:1000])
    return tick.status


# -- small helpers --------------------------------------------------------------------------------------


def _total_requests(spec: LoadTestSpec) -> int | None:
    if spec.load.requests_per_level is None:
        return None
    return spec.load.requests_per_level * len(spec.load.levels)


def _model(status: Status) -> str:
    return (status.target.model if status.target else None) or ""
