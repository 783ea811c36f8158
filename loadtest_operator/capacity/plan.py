"""One CapacityRecommendation reconcile, decided purely: observed state in, actions and status out.

The handler, on every tick (level-triggered, restart-safe):

  1. parse + validate the spec (validation.py); fetch the Deployment (and its ready pods' nodes) and list
     the child LoadTests by `children.children_selector(parent)`;
  2. if `workload.needs_prometheus(...)`: run `prometheus.workload_queries(...)` and pass
     `prometheus.derive_workload(...)` to `workload.resolve_workload(...)` (a failure is a problem with
     reason PrometheusUnavailable);
  3. call `plan(...)` and then do what it says: create `create` (409 AlreadyExists is success), patch
     `status_patch(old status, status)`, emit `event`, and, only when `scale_to` is set
     (spec.scaleDeployment), merge-patch the Deployment's replicas.

Everything the search knows comes from the children, so nothing is lost or repeated across restarts.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from statistics import fmean
from typing import Any

from loadtest_operator.api import (
    KIND,
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    ConditionStatus,
    Interval,
    LoadMode,
    MeasuredCapacity,
    Recommendation,
    ResolvedWorkload,
    SearchTraceEntry,
)
from loadtest_operator.api.conditions import CapacityConditionType, CapacityReason
from loadtest_operator.capacity.children import (
    Child,
    ChildState,
    build_child,
    measurement_hash,
    read_child,
)
from loadtest_operator.capacity.deployment import DeploymentFacts
from loadtest_operator.capacity.recommend import SizingInputs, recommend
from loadtest_operator.capacity.scaling import ScaleDecision, scale_decision
from loadtest_operator.capacity.search import Done, Measure, SearchSettings, level_verdict, next_step
from loadtest_operator.capacity.slo import slo_misses, slo_text
from loadtest_operator.core.conditions import find_condition, set_condition
from loadtest_operator.core.owner import Owner
from loadtest_operator.core.plan import (
    ChildRun,
    Delete,
    Event,
    Plan,
    RecommendationRecord,
    Recommended,
    Scale,
    StoreWrite,
)
from loadtest_operator.core.problems import Problem, summarize
from loadtest_operator.loadtest.target import target_display


@dataclass(frozen=True)
class Observed:
    """What the handler read this tick."""

    parent: Owner
    generation: int
    spec: CapacityRecommendationSpec
    previous: CapacityRecommendationStatus
    workload: ResolvedWorkload | None
    children: Sequence[Mapping[str, Any]]
    facts: DeploymentFacts | None
    now: datetime
    # Semantic spec problems (InvalidSpec), and target problems (TargetUnavailable, PrometheusUnavailable).
    spec_problems: Sequence[Problem] = ()
    target_problems: Sequence[Problem] = ()
    # GPU energy per 1k output tokens by child name, when GPU metrics exist.
    energy_by_child: Mapping[str, float] = field(default_factory=dict)
    # The Deployment's spec.replicas now (what scaleDeployment would change), and the object's creation.
    deployment_replicas: int | None = None
    created_at: datetime | None = None
    store_configured: bool = False
    # The Deployment as read (its opt-in label), and whether an admission webhook reviewed the author.
    deployment: Mapping[str, Any] | None = None
    admission_webhook: bool = False
    unreviewed: str | None = None  # with a webhook installed, why it never reviewed this object


@dataclass(frozen=True)
class Decision:
    status: CapacityRecommendationStatus
    create: list[dict[str, Any]] = field(default_factory=list)
    event: Event | None = None
    scale_to: int | None = None

    @property
    def ready_reason(self) -> str | None:
        ready = find_condition(self.status.conditions or [], CapacityConditionType.READY)
        return None if ready is None else ready.reason


def search_settings(spec: CapacityRecommendationSpec) -> SearchSettings:
    return SearchSettings(
        mode=spec.search.mode,
        goodput_percent=spec.slo.goodput_percent,
        repeats=spec.repeats,
        start_level=spec.search.start_level,
        max_levels=spec.search.max_levels,
        levels=tuple(spec.search.levels or ()),
    )


def decide(observed: Observed) -> Decision:
    """The actions and the new status for this tick."""
    spec = observed.spec
    base = observed.previous.model_copy(
        update={"observed_generation": observed.generation, "target": target_display(spec.target)}
    )
    if observed.spec_problems:
        return _ready(observed, base, ConditionStatus.FALSE, *summarize(list(observed.spec_problems)))
    workload = observed.workload
    if workload is None:
        problems = list(observed.target_problems) or [
            Problem(CapacityReason.SEARCHING, "waiting for the workload to be derived", "spec.workload")
        ]
        status = ConditionStatus.FALSE if observed.target_problems else ConditionStatus.UNKNOWN
        return _ready(observed, base, status, *summarize(problems))
    measurement = measurement_hash(spec, workload)
    children = sorted(
        (c for c in map(read_child, observed.children) if c is not None and c.measurement == measurement),
        key=lambda c: (c.level, c.repeat),
    )
    if observed.previous.measurement != measurement:
        # What is measured changed: a new search; the old figures no longer hold.
        base = base.model_copy(update={"measured": None, "recommendation": None})
    base = base.model_copy(
        update={
            "workload": workload,
            "measurement": measurement,
            "children": [c.name for c in children] or None,
            "search_trace": _trace(children, spec) or None,
        }
    )
    failed = [c for c in children if c.state is ChildState.FAILED]
    if failed:
        names = ", ".join(f"{c.name} ({c.message})" for c in failed)
        return _ready(
            observed,
            base,
            ConditionStatus.FALSE,
            CapacityReason.CHILD_FAILED,
            f"measurement failed: {names}; delete the failed LoadTest to measure that level again",
        )
    running = [c for c in children if c.state is ChildState.RUNNING]
    if running:
        return _ready(
            observed,
            base,
            ConditionStatus.UNKNOWN,
            CapacityReason.SEARCHING,
            "measuring "
            + ", ".join(f"level {c.level} (repeat {c.repeat + 1}/{spec.repeats})" for c in running),
        )
    settings = search_settings(spec)
    trace: dict[int, list[float]] = {}
    for child in children:
        trace.setdefault(child.level, []).append(child.goodput_percent or 0.0)
    step = next_step(settings, trace)
    if isinstance(step, Measure):
        if observed.target_problems or observed.facts is None:
            problems = list(observed.target_problems) or [
                Problem(
                    CapacityReason.TARGET_UNAVAILABLE, "the Deployment's facts are unknown", "spec.target"
                )
            ]
            return _ready(observed, base, ConditionStatus.FALSE, *summarize(problems))
        manifest = build_child(observed.parent, spec, workload, step.level, step.repeat, observed.facts)
        name = manifest["metadata"]["name"]
        planned = _ready(
            observed,
            base.model_copy(update={"children": [*(base.children or []), name]}),
            ConditionStatus.UNKNOWN,
            CapacityReason.SEARCHING,
            f"measuring level {step.level} (repeat {step.repeat + 1}/{spec.repeats})",
        )
        return Decision(status=planned.status, create=[manifest], event=planned.event)
    return _finish(observed, base, workload, children, step)


def _trace(children: Sequence[Child], spec: CapacityRecommendationSpec) -> list[SearchTraceEntry]:
    settings = search_settings(spec)
    by_level: dict[int, list[Child]] = {}
    for child in children:
        by_level.setdefault(child.level, []).append(child)
    entries = []
    for level, group in sorted(by_level.items()):
        goodputs = [c.goodput_percent for c in group if c.state is ChildState.MEASURED]
        measured = [g for g in goodputs if g is not None]
        entries.append(
            SearchTraceEntry(
                level=level,
                goodput_percent=round(min(measured), 2) if measured else None,
                within_slo=level_verdict(measured, settings) if measured else None,
                children=[c.name for c in group],
            )
        )
    return entries


def _finish(
    observed: Observed,
    base: CapacityRecommendationStatus,
    workload: ResolvedWorkload,
    children: Sequence[Child],
    done: Done,
) -> Decision:
    spec = observed.spec
    if done.knee is None:
        lowest = min((c for c in children), key=lambda c: (c.level, c.goodput_percent or 0.0), default=None)
        misses = slo_misses(spec.slo, lowest.result) if lowest is not None and lowest.result else []
        level = lowest.level if lowest is not None else "?"
        detail = "; ".join(misses) or "no level met the SLO"
        return _ready(
            observed,
            base.model_copy(update={"measured": None, "recommendation": None}),
            ConditionStatus.FALSE,
            CapacityReason.SLO_UNREACHABLE,
            f"even level {level} misses the SLO: {detail}",
        )
    at_knee = [c for c in children if c.level == done.knee and c.result is not None]
    measured = _measured(observed, at_knee, done)
    facts = next((c.facts for c in at_knee if c.facts is not None), None) or observed.facts
    if facts is None or facts.current_replicas < 1:
        return _ready(
            observed,
            base,
            ConditionStatus.FALSE,
            CapacityReason.TARGET_UNAVAILABLE,
            "the replicas measured are unknown (no ready replica was recorded)",
        )
    cost = spec.cost
    inputs = SizingInputs(
        mode=workload.mode,
        peak=workload.peak,
        headroom_percent=spec.headroom_percent,
        knee=done.knee,
        current_replicas=facts.current_replicas,
        gpus_per_replica=facts.gpus_per_replica,
        tensor_parallel_size=facts.tensor_parallel_size,
        output_tokens_per_second_at_knee=measured.output_tokens_per_second_at_knee,
        price_per_gpu_hour=None if cost is None else Decimal(cost.price_per_gpu_hour),
        currency=None if cost is None else cost.currency,
        energy_per_1k_output_tokens_joules=measured.energy_per_1k_output_tokens_joules,
        knee_is_lower_bound=done.lower_bound,
    )
    recommendation = recommend(
        inputs,
        namespace=observed.parent.namespace,
        deployment=spec.target.deployment_ref.name,
        slo_text=slo_text(spec.slo),
        gpu_model=facts.gpu_model,
    )
    status = base.model_copy(
        update={"measured": measured, "recommendation": recommendation, "summary": _summary(recommendation)}
    )
    message = (
        f"{recommendation.replicas} replicas ({recommendation.total_gpus} GPUs) for a peak of {workload.peak}"
    )
    planned = _ready(observed, status, ConditionStatus.TRUE, CapacityReason.RECOMMENDED, message)
    return Decision(
        status=planned.status,
        event=planned.event,
        scale_to=recommendation.replicas if spec.scale_deployment else None,
    )


def _measured(observed: Observed, at_knee: Sequence[Child], done: Done) -> MeasuredCapacity:
    results = [c.result for c in at_knee if c.result is not None]
    facts = next((c.facts for c in at_knee if c.facts is not None), None) or observed.facts
    knee = done.knee or 0
    per_replica = None if facts is None or facts.current_replicas < 1 else knee / facts.current_replicas
    mode = observed.workload.mode if observed.workload is not None else LoadMode.CONCURRENCY
    tokens = [r.output_tokens_per_second for r in results]
    goodputs = [r.goodput.percent if r.goodput is not None else 0.0 for r in results]
    energies = [observed.energy_by_child[c.name] for c in at_knee if c.name in observed.energy_by_child]
    return MeasuredCapacity(
        gpu_model=facts.gpu_model if facts else None,
        gpus_per_replica=facts.gpus_per_replica if facts else None,
        tensor_parallel_size=facts.tensor_parallel_size if facts else None,
        current_replicas=facts.current_replicas if facts else None,
        knee_level=done.knee,
        knee_is_lower_bound=done.lower_bound,
        max_concurrency_per_replica_at_slo=_r(per_replica)
        if per_replica is not None and mode is LoadMode.CONCURRENCY
        else None,
        max_requests_per_second_per_replica_at_slo=_r(per_replica)
        if per_replica is not None and mode is LoadMode.RATE
        else None,
        requests_per_second_at_knee=_r(fmean(r.requests_per_second for r in results)) if results else None,
        output_tokens_per_second_at_knee=_r(fmean(tokens)) if tokens else None,
        goodput_percent_at_knee=_r(min(goodputs)) if goodputs else None,
        output_tokens_per_second_interval=Interval(min=_r(min(tokens)), max=_r(max(tokens)))
        if tokens
        else None,
        goodput_percent_interval=Interval(min=_r(min(goodputs)), max=_r(max(goodputs))) if goodputs else None,
        repeats=len(results) or None,
        energy_per_1k_output_tokens_joules=_r(fmean(energies)) if energies else None,
    )


def _r(value: float) -> float:
    return round(value, 3)


def _summary(recommendation: Recommendation) -> str:
    cost = (
        f", {recommendation.cost_per_hour} {recommendation.currency}/h"
        if recommendation.cost_per_hour is not None
        else ""
    )
    return f"{recommendation.replicas} replicas, {recommendation.total_gpus} GPUs{cost}"


def _ready(
    observed: Observed,
    status: CapacityRecommendationStatus,
    condition_status: ConditionStatus,
    reason: str,
    message: str,
) -> Decision:
    previous = find_condition(observed.previous.conditions or [], CapacityConditionType.READY)
    conditions = set_condition(
        observed.previous.conditions or [],
        CapacityConditionType.READY,
        condition_status,
        reason,
        message,
        now=observed.now,
        observed_generation=observed.generation,
    )
    event = None
    if previous is None or previous.reason != reason or previous.status != condition_status:
        event_type = "Warning" if condition_status is ConditionStatus.FALSE else "Normal"
        event = Event(event_type, reason, message)
    summary = status.summary if reason == CapacityReason.RECOMMENDED else f"{reason}: {message}"[:1024]
    return Decision(
        status=status.model_copy(update={"conditions": conditions, "summary": summary}), event=event
    )


def plan(observed: Observed) -> Plan:
    """This tick's decision in the executor's vocabulary: the child to create, the Event, the scale (only
    with scaleDeployment, and only when the replicas differ), the store row and the replicas gauge."""
    decided = decide(observed)
    spec = observed.spec
    deployment = spec.target.deployment_ref.name
    scale = None
    events = [decided.event] if decided.event is not None else []
    if decided.scale_to is not None:
        choice = scale_decision(
            deployment,
            decided.scale_to,
            spec.max_replicas,
            observed.deployment,
            webhook=observed.admission_webhook,
            unreviewed=observed.unreviewed,
        )
        decided = _with_scaled(observed, decided, choice, events)
        if choice.replicas is not None and choice.replicas != observed.deployment_replicas:
            scale = Scale(deployment, choice.replicas, observed.deployment_replicas)
    if scale is not None:
        message = f"scaled Deployment {deployment} from {scale.current} to {scale.replicas} replicas (scaleDeployment)"
        events.append(Event("Normal", "Scaled", message))
    recommendation = decided.status.recommendation
    return Plan(
        status=decided.status,
        create=tuple(decided.create),
        delete=tuple(Delete(KIND, name) for name in _abandoned(observed, decided)),
        events=tuple(events),
        scale=scale,
        store=StoreWrite(_record(observed, decided)) if observed.store_configured else None,
        observations=(Recommended(deployment, recommendation.replicas),) if recommendation else (),
    )


def _with_scaled(
    observed: Observed, decided: Decision, choice: ScaleDecision, events: list[Event]
) -> Decision:
    """The Scaled condition, and a Warning when the scale is refused or capped (once per change)."""
    status = ConditionStatus.FALSE if choice.refused else ConditionStatus.TRUE
    previous = find_condition(observed.previous.conditions or [], CapacityConditionType.SCALED)
    conditions = set_condition(
        decided.status.conditions or [],
        CapacityConditionType.SCALED,
        status,
        choice.reason,
        choice.message,
        now=observed.now,
        observed_generation=observed.generation,
    )
    if choice.reason != CapacityReason.SCALED and (previous is None or previous.message != choice.message):
        events.append(Event("Warning", choice.reason, choice.message))
    return replace(decided, status=decided.status.model_copy(update={"conditions": conditions}))


def _abandoned(observed: Observed, decided: Decision) -> list[str]:
    """Running children of an earlier measurement (the spec changed what is measured): stopped, so two
    measurements never load the target at once."""
    current = decided.status.measurement
    children = (read_child(obj) for obj in observed.children)
    return [
        c.name
        for c in children
        if c is not None
        and current is not None
        and c.measurement != current
        and c.state is ChildState.RUNNING
    ]


def _record(observed: Observed, decided: Decision) -> RecommendationRecord:
    children = (read_child(obj) for obj in observed.children)
    return RecommendationRecord(
        uid=observed.parent.uid,
        namespace=observed.parent.namespace,
        name=observed.parent.name,
        spec=observed.spec,
        status=decided.status,
        children=tuple(
            ChildRun(c.name, c.uid, c.status.run_id or 0, c.level, c.repeat)
            for c in children
            if c is not None
        ),
        target=decided.status.target or target_display(observed.spec.target),
        ready_reason=decided.ready_reason,
        created_at=observed.created_at or observed.now,
        updated_at=observed.now,
    )


def unparsable(
    previous: CapacityRecommendationStatus, generation: int, now: datetime, problems: Sequence[Problem]
) -> Plan:
    """Ready=False with the schema's problems, for a spec that does not even parse (an Event only when
    the condition changes)."""
    reason, message = summarize(list(problems))
    before = find_condition(previous.conditions or [], CapacityConditionType.READY)
    status = not_ready(previous, reason, message, now=now, generation=generation)
    changed = before is None or before.reason != reason or before.status is not ConditionStatus.FALSE
    return Plan(status=status, events=(Event("Warning", reason, message[:1024]),) if changed else ())


def not_ready(
    status: CapacityRecommendationStatus, reason: str, message: str, *, now: datetime, generation: int
) -> CapacityRecommendationStatus:
    """`status` with Ready=False for `reason`, its message in the summary, this generation observed."""
    conditions = set_condition(
        status.conditions or [], CapacityConditionType.READY, ConditionStatus.FALSE, reason, message,
        now=now, observed_generation=generation,
    )  # fmt: skip
    return status.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": generation,
            "summary": f"{reason}: {message}"[:1024],
        }
    )
