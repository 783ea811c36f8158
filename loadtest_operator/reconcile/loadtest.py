"""One LoadTest reconcile: read what is (spec, status, children), decide, act, return the status patch.

Level-triggered: the same function runs on every tick and derives everything from observed state, so an
operator restart at any moment neither loses nor duplicates a run. The steps:

  not accepted for this runId  → validate (spec + cluster) → resolve target → create children
  accepted, shards running     → progress into status
  every shard finished         → merge exactly → status, SQL store, Events, metrics
  a shard failed               → Succeeded=False with the reason (exit code, log tail, scheduler message)
  finished                     → nothing (a spec change does not re-run; bump spec.runId)
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from loadgen.compact import decode_compact
from loadgen.merge import merge_results
from loadgen.result import RunResult
from loadtest_operator.api import (
    Condition,
    ConditionStatus,
    LevelResult,
    LoadTestConditionType,
    LoadTestSpec,
    LoadTestStatus,
    Progress,
    ResolvedTarget,
)
from loadtest_operator.api.conditions import LoadTestReason
from loadtest_operator.api.wire import to_wire
from loadtest_operator.core.conditions import (
    derive_phase,
    dump_conditions,
    find_condition,
    is_condition_true,
    is_finished,
    parse_conditions,
    set_condition,
)
from loadtest_operator.core.owner import Owner
from loadtest_operator.core.problems import Problem, summarize
from loadtest_operator.gpu import LevelWindow, PodRef
from loadtest_operator.io.prometheus import collect_level_metrics
from loadtest_operator.io.store import level_row, run_row, save_run
from loadtest_operator.loadtest.builders.configmaps import (
    build_result_config_map,
    build_run_config_config_map,
)
from loadtest_operator.loadtest.builders.job import ShardJobInputs, build_shard_job
from loadtest_operator.loadtest.builders.labels import run_selector
from loadtest_operator.loadtest.builders.names import run_names
from loadtest_operator.loadtest.builders.rbac import build_role, build_role_binding, build_service_account
from loadtest_operator.loadtest.level_status import levels_status
from loadtest_operator.loadtest.results import best_goodput_level, evaluate_success_criteria, summary_line
from loadtest_operator.loadtest.run_config import build_run_config
from loadtest_operator.loadtest.shards import ShardPhase, ShardState, observe_shards, summarize_progress
from loadtest_operator.loadtest.target import label_selector, resolve_target, service_selector
from loadtest_operator.loadtest.validation import (
    check_config_map_key,
    check_secret_key,
    check_service,
    check_target_pods,
    parse_spec,
    validate_spec,
)
from loadtest_operator.reconcile.context import Context, EventSink


@dataclass
class Reconcile:
    """One pass over one LoadTest; `patch` collects the status fields to write."""

    ctx: Context
    body: Mapping[str, Any]
    event: EventSink
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    patch: dict[str, Any] = field(default_factory=dict)
    owner: Owner = field(init=False)
    generation: int = field(init=False)
    status: LoadTestStatus = field(init=False)
    conditions: list[Condition] = field(init=False)

    def __post_init__(self) -> None:
        meta = self.body["metadata"]
        self.owner = Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        self.generation = int(meta.get("generation") or 0)
        self.status = LoadTestStatus.model_validate(self.body.get("status") or {})
        self.conditions: list[Condition] = parse_conditions(
            c for c in (self.body.get("status") or {}).get("conditions") or []
        )

    # -- the entry point ----------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        spec, problems = parse_spec(self.body.get("spec") or {})
        if spec is None:
            if not self._rejected_already(run_id=self.status.run_id or 0):
                self._reject(self.status.run_id or 0, problems)
            return self.patch
        same_run = self.status.run_id == spec.run_id
        if same_run and is_finished(self.conditions):
            if self.ctx.engine is not None and not is_condition_true(
                self.conditions, LoadTestConditionType.STORED
            ):
                await self._store(spec, final=True)
            return self.patch
        if same_run and self._rejected_already(spec.run_id):
            return self.patch
        if not (same_run and is_condition_true(self.conditions, LoadTestConditionType.ACCEPTED)):
            await self._start(spec)
        else:
            await self._observe(spec)
        return self.patch

    # -- start: validate, resolve, create children --------------------------------------------------
    async def _start(self, spec: LoadTestSpec) -> None:
        problems = list(validate_spec(spec))
        target_facts: dict[str, Any] = {}
        if not problems:
            problems, target_facts = await self._check_cluster(spec)
        if problems:
            self._reject(spec.run_id, problems)
            return
        target: ResolvedTarget = target_facts["target"]
        model = target.model or await self._discover_model(target.url or "")
        target = target.model_copy(update={"model": model})
        run_config = build_run_config(spec, target.url or "", model)
        await self._create_children(spec, run_config, target_facts)
        self._set(
            LoadTestConditionType.ACCEPTED,
            ConditionStatus.TRUE,
            LoadTestReason.VALID,
            "spec and target are valid",
        )
        self._set(
            LoadTestConditionType.RUNNING,
            ConditionStatus.TRUE,
            LoadTestReason.SHARDS_STARTING,
            f"{spec.load_generator.parallelism} load-generator shard(s) created",
        )
        self._set(
            LoadTestConditionType.SUCCEEDED, ConditionStatus.UNKNOWN, LoadTestReason.RUN_IN_PROGRESS, ""
        )
        self.patch.update(
            runId=spec.run_id,
            observedGeneration=self.generation,
            startTime=_iso(self.now),
            completionTime=None,
            levels=None,
            bestGoodputLevel=None,
            summary=None,
            target=to_wire(target),
            progress=to_wire(Progress(total_requests=_total_requests(spec))),
        )
        self._write_conditions()
        self.event(
            "Normal",
            "Started",
            f"run {spec.run_id}: {len(spec.load.levels)} level(s) {spec.load.levels} against "
            f"{target.display} ({model or 'model from /v1/models'}), {spec.load_generator.parallelism} shard(s)",
        )
        await self._store(spec, final=False, model=model)

    async def _check_cluster(self, spec: LoadTestSpec) -> tuple[list[Problem], dict[str, Any]]:
        kube, ns = self.ctx.kube, self.owner.namespace
        problems: list[Problem] = []
        facts: dict[str, Any] = {"selector": {}, "tolerations": []}
        service = None
        pods: list[dict[str, Any]] = []
        nodes: dict[str, Mapping[str, Any]] = {}
        ref = spec.target.service_ref
        if ref is not None:
            service = await kube.service(ns, ref.name)
            problems += check_service(service, ref)
            if service is not None and not problems:
                selector = service_selector(service)
                pods = await kube.pods(ns, label_selector(selector))
                problems += check_target_pods(pods, ref.name)
                facts["selector"] = selector
                facts["tolerations"] = (pods[0].get("spec") or {}).get("tolerations") or [] if pods else []
                for node_name in {(p.get("spec") or {}).get("nodeName") for p in pods} - {None}:
                    node = await kube.node(str(node_name))
                    if node is not None:
                        nodes[str(node_name)] = node
        if spec.target.api_key_secret_ref is not None:
            key_ref = spec.target.api_key_secret_ref
            problems += check_secret_key(
                await kube.secret(ns, key_ref.name), key_ref, "spec.target.apiKeySecretRef"
            )
        dataset = spec.workload.dataset_config_map_ref
        if dataset is not None:
            problems += check_config_map_key(
                await kube.configmap(ns, dataset.name), dataset, "spec.workload.datasetConfigMapRef"
            )
        ready_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        facts["target"] = resolve_target(spec, service, ready_pods, nodes)
        return problems, facts

    async def _discover_model(self, url: str) -> str | None:
        """The first model of /v1/models; None (loadgen then asks itself) when the server does not say."""
        if not url:
            return None
        try:
            resp = await self.ctx.http.get(f"{url}/v1/models", timeout=5.0)
            resp.raise_for_status()
            models = resp.json().get("data") or []
            return str(models[0]["id"]) if models else None
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            self.ctx.log.info("model discovery at %s failed (%s); loadgen will ask itself", url, exc)
            return None

    async def _create_children(
        self, spec: LoadTestSpec, run_config: dict[str, Any], facts: Mapping[str, Any]
    ) -> None:
        owner, run_id, kube = self.owner, spec.run_id, self.ctx.kube
        shards = spec.load_generator.parallelism
        manifests = [
            build_service_account(owner, run_id),
            build_role(owner, run_id, shards),
            build_role_binding(owner, run_id),
            build_run_config_config_map(owner, run_id, json.dumps(run_config, indent=1)),
            *(build_result_config_map(owner, run_id, i) for i in range(shards)),
        ]
        inputs = ShardJobInputs(
            default_image=self.ctx.settings.loadgen_image,
            target_selector=facts.get("selector") or {},
            target_tolerations=facts.get("tolerations") or [],
        )
        manifests += [build_shard_job(owner, spec, i, inputs) for i in range(shards)]
        for manifest in manifests:
            manifest["metadata"]["namespace"] = owner.namespace
            await kube.create(manifest)

    # -- observe: progress, failure, completion -----------------------------------------------------
    async def _observe(self, spec: LoadTestSpec) -> None:
        kube, ns = self.ctx.kube, self.owner.namespace
        selector = label_selector(run_selector(self.owner, spec.run_id))
        jobs, pods, config_maps = await asyncio.gather(
            kube.jobs(ns, selector), kube.pods(ns, selector), kube.configmaps(ns, selector)
        )
        names = run_names(self.owner, spec.run_id)
        result_names = set(names.result_config_maps(spec.load_generator.parallelism))
        results = [cm for cm in config_maps if cm["metadata"]["name"] in result_names]
        shards = observe_shards(
            spec.load_generator.parallelism, jobs, pods, results, self.now,
            self.ctx.settings.unschedulable_grace_seconds,
        )  # fmt: skip
        progress = summarize_progress(shards)
        needed = spec.load_generator.min_succeeded_shards or spec.load_generator.parallelism
        failed = [s for s in shards if s.phase is ShardPhase.FAILED]
        if failed and len(shards) - len(failed) < needed:
            await self._fail(spec, failed[0], shards)
            return
        if progress.running == 0:
            await self._complete(spec, [s for s in shards if s.phase is ShardPhase.SUCCEEDED], failed)
            return
        level = (
            spec.load.levels[progress.current_level_index]
            if progress.current_level_index is not None
            else None
        )
        new_progress = to_wire(
            Progress(
                completed_requests=progress.completed_requests,
                total_requests=_total_requests(spec),
                current_level=level,
                shards_succeeded=progress.succeeded,
                shards_failed=progress.failed,
            )
        )
        old_progress = (self.body.get("status") or {}).get("progress")
        if new_progress != old_progress:
            self.patch["progress"] = new_progress
        running_pods = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")
        before = find_condition(self.conditions, LoadTestConditionType.RUNNING)
        if running_pods and before is not None and before.reason != LoadTestReason.SHARDS_RUNNING:
            message = f"{running_pods} shard pod(s) running"
            self._set(
                LoadTestConditionType.RUNNING, ConditionStatus.TRUE, LoadTestReason.SHARDS_RUNNING, message
            )
            self._write_conditions()
            self.event("Normal", "Running", message)

    async def _fail(self, spec: LoadTestSpec, first: ShardState, shards: list[ShardState]) -> None:
        message = first.message or "a shard failed"
        if first.pod_for_logs:
            tail = await self.ctx.kube.pod_log_tail(self.owner.namespace, first.pod_for_logs, lines=8)
            if tail.strip():
                message += "; last log lines:\n" + tail.strip()[-1500:]
        # The run is void: stop the other shards instead of letting them load the server for nothing.
        names = run_names(self.owner, spec.run_id)
        for s in shards:
            if s.phase in (ShardPhase.RUNNING, ShardPhase.PENDING):
                await self.ctx.kube.delete_job(self.owner.namespace, names.job(s.index))
        self._finish(spec, ConditionStatus.FALSE, first.reason or LoadTestReason.SHARD_FAILED, message)
        self.event("Warning", first.reason or LoadTestReason.SHARD_FAILED, message[:1024])
        self.ctx.metrics.runs.labels(first.reason or LoadTestReason.SHARD_FAILED).inc()
        await self._store(spec, final=True)

    async def _complete(self, spec: LoadTestSpec, done: list[ShardState], failed: list[ShardState]) -> None:
        parts = [decode_compact(s.result) for s in done if s.result]
        merged = merge_results(parts)
        levels = await self._with_gpu_metrics(spec, merged, levels_status(merged))
        best = best_goodput_level(levels)
        criteria_problems = evaluate_success_criteria(spec.success_criteria, levels)
        summary = summary_line(levels)
        if failed:
            summary += f" (partial: {len(done)} of {len(done) + len(failed)} shards)"
        self.patch.update(
            levels=[to_wire(lv) for lv in levels],
            bestGoodputLevel=best,
            summary=summary,
            progress={
                **to_wire(
                    Progress(
                        completed_requests=sum(lv.requests for lv in levels),
                        total_requests=_total_requests(spec),
                        shards_succeeded=len(done),
                        shards_failed=len(failed),
                    )
                ),
                "currentLevel": None,  # a merge patch keeps keys it is not told to clear
            },
        )
        target = dict((self.body.get("status") or {}).get("target") or {})
        if merged.model and target.get("model") != merged.model:
            target["model"] = merged.model
            self.patch["target"] = target
        if criteria_problems:
            reason, message = summarize(criteria_problems)
            self._finish(spec, ConditionStatus.FALSE, reason, message)
            self.event("Warning", reason, message[:1024])
            self.ctx.metrics.runs.labels(reason).inc()
        else:
            self._finish(spec, ConditionStatus.TRUE, LoadTestReason.COMPLETED, summary)
            self.event("Normal", LoadTestReason.COMPLETED, summary)
            self.ctx.metrics.runs.labels(LoadTestReason.COMPLETED).inc()
        self.ctx.metrics.record_levels(self.owner.namespace, self.owner.name, merged.model, levels)
        await self._store(spec, final=True, model=merged.model, levels=levels)

    async def _with_gpu_metrics(
        self, spec: LoadTestSpec, merged: RunResult, levels: list[LevelResult]
    ) -> list[LevelResult]:
        """The levels with what the GPUs and vLLM reported in each level's window. Prometheus trouble only
        sets GpuMetricsAvailable=False with the reason: it never fails or delays the run's result."""
        url = (spec.prometheus.url if spec.prometheus else None) or self.ctx.settings.prometheus_url
        token = await self._prometheus_token(spec)
        target = self.status.target
        pods = [PodRef(p.name, self.owner.namespace, p.node) for p in (target.pods if target else None) or []]
        windows = [
            LevelWindow(
                start=raw.start,
                end=raw.end,
                output_tokens=raw.output_tokens_total,
                client_ttft_ms=lv.ttft.mean if lv.ttft else None,
                client_e2e_ms=lv.e2e.mean if lv.e2e else None,
            )
            for raw, lv in zip(merged.levels, levels, strict=True)
        ]
        discovery, per_level = await collect_level_metrics(url, token, pods, windows)
        self._set(
            LoadTestConditionType.GPU_METRICS_AVAILABLE,
            ConditionStatus.TRUE if discovery.available else ConditionStatus.FALSE,
            discovery.reason.value,
            discovery.message,
        )
        self.patch["gpuDiscovery"] = to_wire(discovery)
        return [
            lv.model_copy(update={"gpu": m.gpu, "server": m.server})
            for lv, m in zip(levels, per_level, strict=True)
        ]

    async def _prometheus_token(self, spec: LoadTestSpec) -> str | None:
        ref = spec.prometheus.bearer_token_secret_ref if spec.prometheus else None
        if ref is None:
            return None
        secret = await self.ctx.kube.secret(self.owner.namespace, ref.name)
        encoded = ((secret or {}).get("data") or {}).get(ref.key)
        return base64.b64decode(encoded).decode().strip() if encoded else None

    def _finish(self, spec: LoadTestSpec, outcome: ConditionStatus, reason: str, message: str) -> None:
        self._set(LoadTestConditionType.RUNNING, ConditionStatus.FALSE, LoadTestReason.RUN_FINISHED, "")
        self._set(LoadTestConditionType.SUCCEEDED, outcome, reason, message)
        self.patch.update(
            completionTime=_iso(self.now), runId=spec.run_id, observedGeneration=self.generation
        )
        self._write_conditions()

    # -- rejection ----------------------------------------------------------------------------------
    def _rejected_already(self, run_id: int) -> bool:
        accepted = find_condition(self.conditions, LoadTestConditionType.ACCEPTED)
        return (
            accepted is not None
            and accepted.status is ConditionStatus.FALSE
            and self.status.run_id == run_id
            and self.status.observed_generation == self.generation
        )

    def _reject(self, run_id: int, problems: list[Problem]) -> None:
        reason, message = summarize(problems)
        self._set(LoadTestConditionType.ACCEPTED, ConditionStatus.FALSE, reason, message)
        self._set(
            LoadTestConditionType.RUNNING,
            ConditionStatus.FALSE,
            reason,
            "not started: the spec was not accepted",
        )
        self._set(LoadTestConditionType.SUCCEEDED, ConditionStatus.FALSE, reason, message)
        self.patch.update(runId=run_id, observedGeneration=self.generation)
        self._write_conditions()
        self.event("Warning", reason, message[:1024])
        self.ctx.metrics.runs.labels("Rejected").inc()

    # -- SQL store ----------------------------------------------------------------------------------
    async def _store(
        self,
        spec: LoadTestSpec,
        *,
        final: bool,
        model: str | None = None,
        levels: list[LevelResult] | None = None,
    ) -> None:
        engine = self.ctx.engine
        if engine is None:
            return
        status = LoadTestStatus.model_validate({**(self.body.get("status") or {}), **self.patch})
        conditions = status.conditions or []
        succeeded = find_condition(conditions, LoadTestConditionType.SUCCEEDED)
        levels = levels if levels is not None else status.levels or []
        run = run_row(
            uid=self.owner.uid,
            namespace=self.owner.namespace,
            name=self.owner.name,
            spec=spec,
            status=derive_phase(conditions).value,
            reason=succeeded.reason if succeeded is not None else None,
            started_at=status.start_time or self.now,
            finished_at=status.completion_time,
            updated_at=self.now,
            model=model or (status.target.model if status.target else None),
            best_goodput_level=status.best_goodput_level,
            summary={k: v for k, v in to_wire(status).items() if k != "levels"},
        )
        rows = [level_row(self.owner.uid, spec.run_id, lv) for lv in levels]
        try:
            await asyncio.to_thread(save_run, engine, run, rows)
        except SQLAlchemyError as exc:
            self.ctx.metrics.store_errors.inc()
            self.ctx.log.warning("SQL store unavailable, will retry: %s", exc)
            if final:
                self._set(
                    LoadTestConditionType.STORED, ConditionStatus.FALSE, LoadTestReason.DATABASE_UNAVAILABLE,
                    f"results are kept in status and the result ConfigMaps until the store is back: {exc}"[:1000],
                )  # fmt: skip
                self._write_conditions()
            return
        if final:
            self._set(
                LoadTestConditionType.STORED,
                ConditionStatus.TRUE,
                LoadTestReason.STORED,
                "run and per-level results are in the SQL store",
            )
            self._write_conditions()

    # -- helpers ------------------------------------------------------------------------------------
    def _set(self, type_: str, status: ConditionStatus, reason: str, message: str) -> None:
        self.conditions = set_condition(
            self.conditions, type_, status, reason, message, now=self.now, observed_generation=self.generation
        )

    def _write_conditions(self) -> None:
        self.patch["conditions"] = dump_conditions(self.conditions)
        self.patch["phase"] = derive_phase(self.conditions).value


def _total_requests(spec: LoadTestSpec) -> int | None:
    if spec.load.requests_per_level is None:
        return None
    return spec.load.requests_per_level * len(spec.load.levels)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
