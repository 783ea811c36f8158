"""One CapacityRecommendation reconcile: read what is (spec, Deployment, pods, children), let the pure
`capacity.plan` decide, act on its decision, return the status patch.

Level-triggered like the LoadTest reconcile: the same pass runs on every tick and derives everything
from observed state (the search trace is rebuilt from the child LoadTests, whose names are
deterministic), so an operator restart at any moment neither loses nor repeats a measurement. The steps:

  parse + validate the spec             → Ready=False InvalidSpec when it cannot be searched
  Deployment, ready pods, their nodes   → facts (replicas, GPUs, TP, GPU model) and TargetUnavailable
  workload                              → from the spec, or from Prometheus once (then kept in status)
  children (by label)                   → plan: the next child to create, or the recommendation
  act                                   → create the child (409 is success), patch only what changed in
                                          status, post the Event, scale only with scaleDeployment: true,
                                          upsert the SQL row when the status changed
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    ConditionStatus,
    ResolvedWorkload,
)
from loadtest_operator.api.conditions import CapacityConditionType, CapacityReason
from loadtest_operator.api.wire import to_wire
from loadtest_operator.capacity.children import Parent, children_selector, energy_by_child, read_child
from loadtest_operator.capacity.deployment import DeploymentFacts, check_deployment, deployment_facts
from loadtest_operator.capacity.plan import Observed, Plan, plan, status_patch, target_display
from loadtest_operator.capacity.prometheus import derive_workload, scalar_from_response, workload_queries
from loadtest_operator.capacity.validation import parse_capacity_spec, validate_capacity_spec
from loadtest_operator.capacity.workload import needs_prometheus, resolve_workload
from loadtest_operator.core.conditions import dump_conditions, find_condition, set_condition
from loadtest_operator.core.problems import Problem, summarize
from loadtest_operator.io.store import ChildRun, recommendation_row, save_recommendation
from loadtest_operator.loadtest.target import is_pod_ready, label_selector, service_selector
from loadtest_operator.reconcile.context import Context, EventSink

PROMETHEUS_TIMEOUT_SECONDS = 10.0


@dataclass
class TargetFacts:
    """What the reconcile read about the Deployment being sized."""

    deployment: Mapping[str, Any] | None = None
    pods: list[str] = field(default_factory=list)
    facts: DeploymentFacts | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class CapacityReconcile:
    """One pass over one CapacityRecommendation; `patch` collects the status fields to write.

    `stored` maps a recommendation's uid to the fingerprint of the status last written to the SQL store by
    this process: the row is upserted when the status changed, and once after every operator start."""

    ctx: Context
    body: Mapping[str, Any]
    event: EventSink
    stored: MutableMapping[str, str]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    patch: dict[str, Any] = field(default_factory=dict)
    parent: Parent = field(init=False)
    generation: int = field(init=False)
    raw_status: Mapping[str, Any] = field(init=False)
    previous: CapacityRecommendationStatus = field(init=False)

    def __post_init__(self) -> None:
        meta = self.body["metadata"]
        self.parent = Parent(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        self.generation = int(meta.get("generation") or 0)
        self.raw_status = self.body.get("status") or {}
        self.previous = CapacityRecommendationStatus.model_validate(self.raw_status)

    @property
    def log(self) -> logging.Logger:
        return self.ctx.log

    # -- the entry point ----------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        spec, problems = parse_capacity_spec(self.body.get("spec") or {})
        if spec is None:
            self._invalid(problems)
            return self.patch
        spec_problems = validate_capacity_spec(spec)
        target = TargetFacts()
        workload: ResolvedWorkload | None = None
        if not spec_problems:
            target = await self._read_target(spec)
            workload = await self._workload(spec, target)
        children = await self.ctx.kube.loadtests(self.parent.namespace, children_selector(self.parent))
        decided = plan(
            Observed(
                parent=self.parent,
                generation=self.generation,
                spec=spec,
                previous=self.previous,
                workload=workload,
                children=children,
                facts=target.facts,
                now=self.now,
                spec_problems=spec_problems,
                target_problems=target.problems,
                energy_by_child=energy_by_child(children),
            )
        )
        for manifest in decided.create:
            if await self.ctx.kube.create(manifest):
                self.log.info("%s: created child LoadTest %s", self._who, manifest["metadata"]["name"])
        self._write_status(status_patch(self.raw_status, decided.status))
        if decided.event is not None:
            self.event(decided.event.type, decided.event.reason, decided.event.message[:1024])
        await self._scale(spec, decided, target)
        recommendation = decided.status.recommendation
        if recommendation is not None:
            self.ctx.metrics.record_recommendation(
                self.parent.namespace,
                self.parent.name,
                spec.target.deployment_ref.name,
                recommendation.replicas,
            )
        await self._store(spec, decided, children)
        return self.patch

    @property
    def _who(self) -> str:
        return f"CapacityRecommendation {self.parent.namespace}/{self.parent.name}"

    # -- invalid spec (does not even parse) ---------------------------------------------------------
    def _invalid(self, problems: Sequence[Problem]) -> None:
        reason, message = summarize(list(problems))
        before = find_condition(self.previous.conditions or [], CapacityConditionType.READY)
        conditions = set_condition(
            self.previous.conditions or [],
            CapacityConditionType.READY,
            ConditionStatus.FALSE,
            reason,
            message,
            now=self.now,
            observed_generation=self.generation,
        )
        self._write_status(
            {
                "conditions": dump_conditions(conditions),
                "observedGeneration": self.generation,
                "summary": f"{reason}: {message}"[:1024],
            }
        )
        if before is None or before.reason != reason or before.status is not ConditionStatus.FALSE:
            self.event("Warning", reason, message[:1024])

    # -- the target: Deployment, ready pods, their nodes --------------------------------------------
    async def _read_target(self, spec: CapacityRecommendationSpec) -> TargetFacts:
        kube, ns = self.ctx.kube, self.parent.namespace
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
        pods = (
            [p for p in await kube.pods(ns, label_selector(selector)) if is_pod_ready(p)] if selector else []
        )
        target.pods = sorted(str(p["metadata"]["name"]) for p in pods)
        node_names = sorted({str(n) for p in pods if (n := (p.get("spec") or {}).get("nodeName"))})
        nodes = [
            node for node in await asyncio.gather(*(kube.node(n) for n in node_names)) if node is not None
        ]
        target.facts = deployment_facts(deployment, nodes)
        return target

    # -- the workload -------------------------------------------------------------------------------
    async def _workload(
        self, spec: CapacityRecommendationSpec, target: TargetFacts
    ) -> ResolvedWorkload | None:
        kept = self.previous.workload
        source = spec.workload.from_prometheus
        if source is None or not needs_prometheus(spec, kept):
            return resolve_workload(spec, kept)
        field_path = "spec.workload.fromPrometheus"
        url = (spec.prometheus.url if spec.prometheus else None) or self.ctx.settings.prometheus_url
        if not url:
            target.problems.append(
                Problem(
                    CapacityReason.PROMETHEUS_UNAVAILABLE,
                    "no Prometheus to derive the workload from: set spec.prometheus.url or the operator's "
                    "LLMLOAD_PROMETHEUS_URL",
                    field_path,
                )
            )
            return None
        if not target.pods:
            target.problems.append(
                Problem(
                    CapacityReason.PROMETHEUS_UNAVAILABLE,
                    "no ready pod of the target to select vLLM's series by",
                    field_path,
                )
            )
            return None
        queries = workload_queries(
            namespace=self.parent.namespace,
            pods=target.pods,
            window_seconds=source.window_seconds,
            percentile=source.percentile,
            peak=source.peak,
        )
        try:
            token = await self._prometheus_token(spec)
            peak, prompt, generation = [
                scalar_from_response(await self._instant_query(url, token, q)) for q in queries.all()
            ]
            derived = derive_workload(peak, prompt, generation)
        except (httpx.HTTPError, ValueError) as exc:
            target.problems.append(
                Problem(
                    CapacityReason.PROMETHEUS_UNAVAILABLE,
                    f"deriving the workload from {url}: {exc}",
                    field_path,
                )
            )
            return None
        return resolve_workload(spec, kept, derived, queries=queries.all(), now=self.now)

    async def _instant_query(self, url: str, token: str | None, query: str) -> Mapping[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.ctx.http.get(
            f"{url.rstrip('/')}/api/v1/query",
            params={"query": query, "time": f"{self.now.timestamp():.3f}"},
            headers=headers,
            timeout=PROMETHEUS_TIMEOUT_SECONDS,
        )
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, dict):
            raise ValueError("Prometheus answered something other than a JSON object")
        return body

    async def _prometheus_token(self, spec: CapacityRecommendationSpec) -> str | None:
        ref = spec.prometheus.bearer_token_secret_ref if spec.prometheus else None
        if ref is None:
            return None
        secret = await self.ctx.kube.secret(self.parent.namespace, ref.name)
        encoded = ((secret or {}).get("data") or {}).get(ref.key)
        if not encoded:
            raise ValueError(f"Secret {ref.name} has no key {ref.key} (spec.prometheus.bearerTokenSecretRef)")
        return base64.b64decode(encoded).decode().strip()

    # -- acting on the plan -------------------------------------------------------------------------
    def _write_status(self, wanted: Mapping[str, Any]) -> None:
        """Only the top-level fields that differ from the status read (a tick that changes nothing writes
        nothing, so the object's resourceVersion stays put)."""
        for key, value in wanted.items():
            if self.raw_status.get(key) != value:
                self.patch[key] = value

    async def _scale(self, spec: CapacityRecommendationSpec, decided: Plan, target: TargetFacts) -> None:
        if decided.scale_to is None or not spec.scale_deployment or target.deployment is None:
            return
        current = (target.deployment.get("spec") or {}).get("replicas")
        if current == decided.scale_to:
            return
        name = spec.target.deployment_ref.name
        await self.ctx.kube.scale_deployment(self.parent.namespace, name, decided.scale_to)
        message = f"scaled Deployment {name} from {current} to {decided.scale_to} replicas (scaleDeployment)"
        self.log.info("%s: %s", self._who, message)
        self.event("Normal", "Scaled", message)

    async def _store(
        self, spec: CapacityRecommendationSpec, decided: Plan, children: Sequence[Mapping[str, Any]]
    ) -> None:
        engine = self.ctx.engine
        if engine is None:
            return
        fingerprint = json.dumps(to_wire(decided.status), sort_keys=True, default=str)
        if self.stored.get(self.parent.uid) == fingerprint:
            return
        runs = [
            ChildRun(
                name=child.name,
                loadtest_uid=child.uid,
                run_id=child.status.run_id or 0,
                level=child.level,
                repeat=child.repeat,
            )
            for child in (read_child(obj) for obj in children)
            if child is not None
        ]
        row = recommendation_row(
            uid=self.parent.uid,
            namespace=self.parent.namespace,
            name=self.parent.name,
            spec=spec,
            status=decided.status,
            children=runs,
            target=decided.status.target or target_display(spec),
            ready_reason=decided.ready_reason,
            created_at=_created_at(self.body) or self.now,
            updated_at=self.now,
        )
        try:
            await asyncio.to_thread(save_recommendation, engine, row)
        except SQLAlchemyError as exc:
            # The status holds everything; the row is written on a later tick (the fingerprint is unset).
            self.ctx.metrics.store_errors.inc()
            self.log.warning("SQL store unavailable for %s, will retry: %s", self._who, exc)
            return
        self.stored[self.parent.uid] = fingerprint


def _created_at(body: Mapping[str, Any]) -> datetime | None:
    stamp = (body.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
