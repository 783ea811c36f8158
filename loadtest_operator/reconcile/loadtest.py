"""One LoadTest tick: observe what the pure plan needs, plan, execute.

The observer reads only what `loadtest.plan.reads` asks for: for a finished run only whether the SQL store
holds it (answered from the store's memory after the first time), the target's objects to start a run,
the run's children to follow it (and, once every shard has ended, their merged results, the GPU figures
of the levels' windows and a failed shard's log tail).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from loadgen.result import RunResult
from loadtest_operator.api import LoadTestSpec, LoadTestStatus
from loadtest_operator.api.gpu import GpuMetricsReason
from loadtest_operator.core.names import label_selector
from loadtest_operator.core.owner import Owner
from loadtest_operator.gpu import GapTolerance, PodRef
from loadtest_operator.gpu.collect import LevelMetrics, unavailable
from loadtest_operator.io.addresses import Pin, pin
from loadtest_operator.io.prometheus import collect_level_metrics
from loadtest_operator.loadtest.builders.labels import run_selector
from loadtest_operator.loadtest.level_status import levels_status
from loadtest_operator.loadtest.observed import (
    Children,
    GpuFigures,
    Observed,
    Reads,
    Settings,
    TargetFacts,
    level_windows,
    previous_run_active,
    reads,
    run_ended,
    run_spec,
    shard_states,
    too_many_failed,
)
from loadtest_operator.loadtest.plan import plan, planted
from loadtest_operator.loadtest.shard_results import ShardResults, read_and_merge
from loadtest_operator.loadtest.shards import ShardPhase, ShardState
from loadtest_operator.loadtest.target import resolve_target, service_selector
from loadtest_operator.loadtest.validation import parse_spec
from loadtest_operator.reconcile.collector import collector_paused
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.executor import AdoptionRefusedError, execute
from loadtest_operator.reconcile.prometheus_access import prometheus_access
from loadtest_operator.reconcile.reviewed import review_of


async def reconcile_loadtest(
    ctx: Context, body: Mapping[str, Any], event: EventSink, now: datetime | None = None
) -> dict[str, Any]:
    observed = await observe(ctx, body, now)
    try:
        return await execute(ctx, observed.owner, observed.status, plan(observed), event)
    except AdoptionRefusedError as refused:
        # Not an error to retry: the run fails, and the shards this tick had already created stop.
        jobs = [name for kind, name in refused.ours if kind == "Job"]
        return await execute(
            ctx, observed.owner, observed.status, planted(observed, str(refused), jobs), event
        )


async def observe(ctx: Context, body: Mapping[str, Any], now: datetime | None = None) -> Observed:
    meta = body["metadata"]
    raw_spec: Mapping[str, Any] = body.get("spec") or {}
    raw_status: Mapping[str, Any] = body.get("status") or {}
    deleting = bool(meta.get("deletionTimestamp"))
    observed = Observed(
        owner=Owner.of(body),
        generation=int(meta.get("generation") or 0),
        spec=raw_spec,
        status=raw_status,
        now=now or datetime.now(UTC),
        settings=Settings(
            default_image=ctx.settings.loadgen_image,
            store_configured=ctx.store is not None,
            unschedulable_grace_seconds=ctx.settings.unschedulable_grace_seconds,
            barrier_timeout_seconds=ctx.settings.barrier_timeout_seconds,
            allowed_images=tuple(ctx.settings.image_allow_list),
            admission_webhook=ctx.settings.admission_webhook,
            read_secrets=ctx.settings.read_secrets,
        ),
        deleting=deleting,
        meta=meta,
    )
    need = reads(raw_spec, raw_status, deleting)
    spec, _ = parse_spec(raw_spec)
    if spec is None or need is Reads.NOTHING:
        return observed
    if need is Reads.STORE:
        if ctx.store is None:
            return observed
        return replace(observed, in_store=await ctx.store.run_in_store(observed.owner.uid, spec.run_id))
    if need is Reads.TARGET:
        if spec.target.api_key_secret_ref is not None:
            # Was this object's author reviewed? Asked only when a Secret hangs on the answer.
            review = await review_of(ctx, body)
            reviewed = replace(observed.settings, admission_webhook=review.reviewed, unreviewed=review.gap)
            observed = replace(observed, settings=reviewed)
        return replace(observed, target=await _read_target(ctx, observed, spec))
    return replace(observed, children=await _read_children(ctx, observed, spec))


async def _read_target(ctx: Context, observed: Observed, spec: LoadTestSpec) -> TargetFacts:
    kube, ns = ctx.kube, observed.owner.namespace
    service = None
    pods: list[dict[str, Any]] = []
    nodes: dict[str, Mapping[str, Any]] = {}
    ref = spec.target.service_ref
    if ref is not None:
        service = await kube.service(ns, ref.name)
        selector = service_selector(service) if service is not None else {}
        if selector:
            pods = await kube.pods(ns, label_selector(selector))
            for node_name in sorted({str(n) for p in pods if (n := (p.get("spec") or {}).get("nodeName"))}):
                node = await kube.node(node_name)
                if node is not None:
                    nodes[node_name] = node
    key_ref = spec.target.api_key_secret_ref
    read_secret = key_ref is not None and ctx.settings.read_secrets
    secret = await kube.secret(ns, key_ref.name) if key_ref is not None and read_secret else None
    dataset_ref = spec.workload.dataset_config_map_ref
    dataset = await kube.configmap(ns, dataset_ref.name) if dataset_ref is not None else None
    stale: list[str] = []
    earlier = previous_run_active(observed.status, spec)
    if earlier is not None:
        old_jobs = await kube.jobs(ns, label_selector(run_selector(observed.owner, earlier)))
        stale = [str(job["metadata"]["name"]) for job in old_jobs]
    ready = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    url = resolve_target(spec, service, ready, nodes).url or ""
    # Resolved once: discovery below dials these checked addresses, never the name again (DNS rebinding).
    pinned = await pin(url, ctx.fetches, "spec.target", ctx.resolver) if url else None
    refused = pinned if isinstance(pinned, str) else None
    facts = TargetFacts(
        service=service,
        pods=pods,
        nodes=nodes,
        secret=secret,
        dataset=dataset,
        stale_jobs=stale,
        refused_address=refused,
        secret_read=read_secret or key_ref is None,
    )
    if isinstance(pinned, Pin):
        facts = replace(facts, server_version=await ctx.models.server_version(pinned))
        if spec.target.model is None:
            facts = replace(facts, discovered_model=await ctx.models.first_model(pinned))
    return facts


async def _read_children(ctx: Context, observed: Observed, spec: LoadTestSpec) -> Children:
    kube, ns = ctx.kube, observed.owner.namespace
    selector = label_selector(run_selector(observed.owner, spec.run_id))
    jobs, pods, config_maps = await asyncio.gather(
        kube.jobs(ns, selector), kube.pods(ns, selector), kube.configmaps(ns, selector)
    )
    children = Children(jobs=jobs, pods=pods, config_maps=config_maps)
    spec = run_spec(replace(observed, children=children), spec)  # the spec the run started with
    shards = shard_states(replace(observed, children=children), spec)
    if not run_ended(spec, shards):
        return replace(children, job_events=await _events_of_podless_jobs(ctx, ns, children))
    if not too_many_failed(spec, shards):
        children = await _read_results(observed, spec, children, shards)
        shards = shard_states(replace(observed, children=children), spec)
    if too_many_failed(spec, shards):
        # The plan fails the run with the first failed shard's message and its pod's last log lines.
        first = next(s for s in shards if s.phase is ShardPhase.FAILED)
        if first.pod_for_logs:
            tail = await kube.pod_log_tail(ns, first.pod_for_logs, lines=8)
            children = replace(children, log_tail=tail)
        return children
    if children.merged is None:
        return children
    return replace(children, gpu=await _gpu_figures(ctx, observed, spec, children.merged))


async def _read_results(
    observed: Observed, spec: LoadTestSpec, children: Children, shards: list[ShardState]
) -> Children:
    """The succeeded shards' results, read and merged shard by shard in a worker thread (the event loop
    keeps ticking; memory is one shard's result and the sum). A shard whose result cannot be read, or does
    not merge, is in `unreadable` instead: the plan fails it (ResultUnreadable) like a shard whose pod
    failed, rather than this tick raising on every retry."""
    done = {s.index: s.result or "" for s in shards if s.phase is ShardPhase.SUCCEEDED}
    read = await asyncio.to_thread(merge_shard_results, done)
    children = replace(children, unreadable=read.unreadable)
    if too_many_failed(spec, shard_states(replace(observed, children=children), spec)):
        return children
    if read.disagree:
        return replace(children, unreadable={**read.unreadable, **read.disagree})
    return replace(children, merged=read.merged)


def merge_shard_results(texts: Mapping[int, str]) -> ShardResults:
    """`read_and_merge` with the garbage collector paused (reconcile/collector.py): run in a worker thread,
    a collection there would stop the event loop."""
    with collector_paused():
        return read_and_merge(texts)


async def _events_of_podless_jobs(ctx: Context, namespace: str, children: Children) -> dict[str, list[Any]]:
    """Why a Job has no pod (FailedCreate from a quota or an admission policy) is only in its events."""
    with_pods = {str((p["metadata"].get("labels") or {}).get("job-name")) for p in children.pods}
    podless = [str(j["metadata"]["name"]) for j in children.jobs if j["metadata"]["name"] not in with_pods]
    return {name: await ctx.kube.events(namespace, "Job", name) for name in podless}


async def _gpu_figures(ctx: Context, observed: Observed, spec: LoadTestSpec, merged: RunResult) -> GpuFigures:
    """What the GPUs and vLLM reported in each level's window. Prometheus trouble only sets
    GpuMetricsAvailable=False with the reason: it never fails or delays the run's result."""
    target = LoadTestStatus.model_validate(observed.status).target
    pods = [PodRef(p.name, observed.owner.namespace, p.node) for p in (target.pods if target else None) or []]
    windows = level_windows(merged, levels_status(merged))
    review = None
    if spec.prometheus is not None and spec.prometheus.bearer_token_secret_ref is not None:
        review = await review_of(ctx, {"metadata": observed.meta})
    access = await prometheus_access(ctx, observed.owner.namespace, spec.prometheus, review=review)
    if isinstance(access, str):
        refused = unavailable(GpuMetricsReason.PROMETHEUS_NOT_ALLOWED, access)
        return GpuFigures(discovery=refused, levels=[LevelMetrics() for _ in windows])
    check = spec.validation
    tolerance = GapTolerance.from_percent(check.tolerance_percent, check.latency_tolerance_milliseconds)
    discovery, per_level = await collect_level_metrics(
        access.url,
        access.token,
        pods,
        windows,
        tolerance=tolerance,
        pin=access.pin,
        max_bytes=ctx.settings.prometheus_max_bytes,
    )
    return GpuFigures(discovery=discovery, levels=per_level)
