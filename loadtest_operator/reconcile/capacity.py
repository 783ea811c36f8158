"""One CapacityRecommendation tick: observe (spec, Deployment, ready pods and their nodes, the workload,
the child LoadTests), let the pure `capacity.plan` decide, and hand its plan to the one executor.

Level-triggered like the LoadTest: the search trace is rebuilt from the child LoadTests (deterministic
names) on every tick, so an operator restart at any moment neither loses nor repeats a measurement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loadtest_operator.api import (
    CAPACITY_KIND,
    CapacityReason,
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    ResolvedWorkload,
)
from loadtest_operator.capacity.children import children_selector, energy_by_child, parent_of
from loadtest_operator.capacity.deployment import DeploymentFacts, check_deployment, deployment_facts
from loadtest_operator.capacity.plan import Observed, plan, unparsable
from loadtest_operator.capacity.prometheus import derive_workload, workload_queries
from loadtest_operator.capacity.scaling import backs_target, not_behind_target
from loadtest_operator.capacity.validation import parse_capacity_spec, validate_capacity_spec
from loadtest_operator.capacity.workload import needs_prometheus, resolve_workload
from loadtest_operator.core.names import label_selector
from loadtest_operator.core.owner import Owner
from loadtest_operator.core.problems import Problem
from loadtest_operator.core.reviewed import timestamp
from loadtest_operator.io.prometheus import SourceError, instant_values
from loadtest_operator.loadtest.target import is_pod_ready, service_selector
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.executor import execute
from loadtest_operator.reconcile.prometheus_access import prometheus_access
from loadtest_operator.reconcile.reviewed import Review, review_of


@dataclass
class TargetFacts:
    """What the observer read about the Deployment being sized."""

    deployment: Mapping[str, Any] | None = None
    pods: list[str] = field(default_factory=list)
    facts: DeploymentFacts | None = None
    problems: list[Problem] = field(default_factory=list)


async def reconcile_capacity(
    ctx: Context, body: Mapping[str, Any], event: EventSink, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    parent = parent_of(body)
    raw_status: Mapping[str, Any] = body.get("status") or {}
    spec, problems = parse_capacity_spec(body.get("spec") or {})
    if spec is None:
        previous = CapacityRecommendationStatus.model_validate(raw_status)
        generation = int(body["metadata"].get("generation") or 0)
        decided = unparsable(previous, generation, now, problems)
        return await execute(ctx, parent, raw_status, decided, event)
    observed = await observe(ctx, body, spec, now)
    return await execute(ctx, parent, raw_status, plan(observed), event)


async def observe(
    ctx: Context, body: Mapping[str, Any], spec: CapacityRecommendationSpec, now: datetime | None = None
) -> Observed:
    parent = parent_of(body)
    now = now or datetime.now(UTC)
    previous = CapacityRecommendationStatus.model_validate(body.get("status") or {})
    spec_problems = validate_capacity_spec(spec)
    target = TargetFacts()
    workload: ResolvedWorkload | None = None
    review = Review(ctx.settings.admission_webhook)
    if not spec_problems:
        if spec.scale_deployment or (spec.prometheus and spec.prometheus.bearer_token_secret_ref):
            review = await review_of(ctx, body, CAPACITY_KIND)  # a scale or a token hangs on the answer
        target = await _read_target(ctx, parent, spec)
        workload = await _workload(ctx, parent, spec, previous, target, now, review)
    children = await ctx.kube.loadtests(parent.namespace, children_selector(parent))
    replicas = ((target.deployment or {}).get("spec") or {}).get("replicas")
    return Observed(
        parent=parent,
        generation=int(body["metadata"].get("generation") or 0),
        spec=spec,
        previous=previous,
        workload=workload,
        children=children,
        facts=target.facts,
        now=now,
        spec_problems=spec_problems,
        target_problems=target.problems,
        energy_by_child=energy_by_child(children),
        deployment_replicas=replicas if isinstance(replicas, int) else None,
        created_at=timestamp(body.get("metadata") or {}),
        store_configured=ctx.store is not None,
        deployment=target.deployment,
        admission_webhook=review.reviewed,
        unreviewed=review.gap,
    )


async def _read_target(ctx: Context, parent: Owner, spec: CapacityRecommendationSpec) -> TargetFacts:
    kube, ns = ctx.kube, parent.namespace
    name = spec.target.deployment_ref.name
    deployment = await kube.deployment(ns, name)
    target = TargetFacts(deployment=deployment, problems=check_deployment(name, deployment))
    if deployment is None:
        return target
    selector: dict[str, str] = {}
    ref = spec.target.service_ref
    if ref is not None:
        service = await kube.service(ns, ref.name)
        if service is None:
            target.problems.append(
                Problem(
                    CapacityReason.TARGET_UNAVAILABLE,
                    f"Service {ref.name} not found in this namespace",
                    "spec.target.serviceRef",
                )
            )
        else:
            selector = service_selector(service)
    else:
        selector = dict(((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    selected = await kube.pods(ns, label_selector(selector)) if selector else []
    if ref is not None and selected and not backs_target(deployment, selected):
        # Before the Deployment's own readiness: a Deployment the target does not route to is the wrong one.
        problem = Problem(
            CapacityReason.NOT_BEHIND_TARGET, not_behind_target(name, ref.name), "spec.target.deploymentRef"
        )
        target.problems.insert(0, problem)
        return target
    pods = [p for p in selected if is_pod_ready(p)]
    target.pods = sorted(str(p["metadata"]["name"]) for p in pods)
    node_names = sorted({str(n) for p in pods if (n := (p.get("spec") or {}).get("nodeName"))})
    nodes = [node for node in await asyncio.gather(*(kube.node(n) for n in node_names)) if node is not None]
    target.facts = deployment_facts(deployment, nodes)
    return target


async def _workload(
    ctx: Context,
    parent: Owner,
    spec: CapacityRecommendationSpec,
    previous: CapacityRecommendationStatus,
    target: TargetFacts,
    now: datetime,
    review: Review,
) -> ResolvedWorkload | None:
    kept = previous.workload
    source = spec.workload.from_prometheus
    if source is None or not needs_prometheus(spec, kept):
        return resolve_workload(spec, kept)
    field_path = "spec.workload.fromPrometheus"

    def unavailable(message: str) -> None:
        target.problems.append(Problem(CapacityReason.PROMETHEUS_UNAVAILABLE, message, field_path))

    if not ((spec.prometheus.url if spec.prometheus else None) or ctx.settings.prometheus_url):
        unavailable(
            "no Prometheus to derive the workload from: set spec.prometheus.url or the operator's "
            "LLMLOAD_PROMETHEUS_URL"
        )
        return None
    if not target.pods:
        unavailable("no ready pod of the target to select vLLM's series by")
        return None
    access = await prometheus_access(ctx, parent.namespace, spec.prometheus, review=review)
    if isinstance(access, str):
        unavailable(access)
        return None
    url, token = access.url, access.token
    if url is None:  # checked above; the type checker does not know
        return None
    queries = workload_queries(
        namespace=parent.namespace,
        pods=target.pods,
        window_seconds=source.window_seconds,
        percentile=source.percentile,
        peak=source.peak,
    )
    try:
        peak, prompt, generation = await instant_values(
            url, token, queries.all(), now, pin=access.pin, max_bytes=ctx.settings.prometheus_max_bytes
        )
        derived = derive_workload(peak, prompt, generation)
    except (SourceError, ValueError) as exc:
        unavailable(f"deriving the workload from {url}: {exc}")
        return None
    return resolve_workload(spec, kept, derived, queries=queries.all(), now=now)
