"""The one executor: carries out any kind's plan, idempotently.

Creates children (409 AlreadyExists is success), deletes children (404 is success), merges keys into
ConfigMaps (the shards' start signals; a ConfigMap gone is no error), scales, writes the
store (once per distinct record per process) and lets the plan settle the status on the outcome, posts
events, counts outcomes, and returns the merge patch that turns the status read into the status wanted
(empty when nothing changed, so an idle tick writes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from loadtest_operator.api.wire import to_wire
from loadtest_operator.core.owner import Owner, owned_by
from loadtest_operator.core.patch import merge_patch
from loadtest_operator.core.plan import LiveLevel, Observation, Plan, RunEnded, StoreFailure, StoreWrite
from loadtest_operator.io.store import StoreRejectedError, StoreUnavailableError
from loadtest_operator.reconcile.context import Context, EventSink


async def execute(
    ctx: Context, owner: Owner, previous: Mapping[str, Any], decided: Plan, event: EventSink
) -> dict[str, Any]:
    """Do what `decided` says for `owner`; the status merge patch to write."""
    who = f"{owner.kind} {owner.namespace}/{owner.name}"
    ours: list[tuple[str, str]] = []  # created (or found owned) so far, for a refusal to clean up
    for manifest in decided.create:
        manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": owner.namespace}}
        existing = await ctx.kube.create(manifest)
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        if existing is None:
            ctx.log.info("%s: created %s %s", who, kind, name)
        elif existing and not owned_by(existing, owner):
            # A name is not a claim: an object planted under a child's name is never used as ours.
            raise AdoptionRefusedError(
                f"{kind} {name} already exists and is not owned by this {owner.kind}; refusing to use it "
                f"(change spec.runId for new names, or delete it and change spec.runId)",
                tuple(ours),
            )
        ours.append((kind, name))
    for child in decided.delete:
        await ctx.kube.delete(owner.namespace, child.kind, child.name)
    for change in decided.patch:
        await ctx.kube.patch_config_map_data(owner.namespace, change.name, dict(change.data))
        ctx.log.info("%s: patched ConfigMap %s (%s)", who, change.name, ", ".join(k for k, _ in change.data))
    if decided.scale is not None:
        scale = decided.scale
        await ctx.kube.scale_deployment(owner.namespace, scale.deployment, scale.replicas)
    status = decided.status
    if decided.store is not None:
        status = await _store(ctx, owner, decided.store) or status
    for e in decided.events:
        event(e.type, e.reason, e.message)
    for observation in decided.observations:
        _observe(ctx, owner, observation)
    return merge_patch(previous, to_wire(status))


class AdoptionRefusedError(RuntimeError):
    """An object with a child's name exists and belongs to someone else."""

    def __init__(self, message: str, ours: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.ours = ours  # (kind, name) of the children this tick had created before it


async def _store(ctx: Context, owner: Owner, write: StoreWrite) -> Any:
    """Write the record unless this process already wrote the same one; the settled status, if any."""
    if ctx.store is None:
        return None
    # updated_at changes every tick: a record is "the same" when everything else is, and the database is
    # the one it was written to (the store counts the empty databases it found: new or emptied).
    record = json.dumps({**asdict(write.record), "updated_at": None}, sort_keys=True, default=str)
    fingerprint = f"{ctx.store.empty_databases}:{record}"
    key = f"{owner.uid}/{type(write.record).__name__}"
    if ctx.stored.get(key) == fingerprint:
        return write.settle(None) if write.settle else None
    who = f"{owner.kind} {owner.namespace}/{owner.name}"
    failure = None
    try:
        await ctx.store.write(write.record)
    except StoreRejectedError as exc:
        ctx.log.error("SQL store refused the record of %s (not retried by this process): %s", who, exc)
        failure = StoreFailure(str(exc), rejected=True)
        # The same record would be refused again; a plan that settles decides itself whether to resend.
        if write.settle is None:
            ctx.stored[key] = fingerprint
    except StoreUnavailableError as exc:
        ctx.log.warning("SQL store unavailable for %s, will retry: %s", who, exc)
        failure = StoreFailure(str(exc))
    if failure is not None:
        ctx.metrics.store_errors.inc()
    else:
        ctx.stored[key] = fingerprint
    return write.settle(failure) if write.settle else None


def _observe(ctx: Context, owner: Owner, observation: Observation) -> None:
    if isinstance(observation, LiveLevel):
        ctx.metrics.record_live(owner.namespace, owner.name, observation)
    elif isinstance(observation, RunEnded):
        ctx.metrics.runs.labels(observation.reason).inc()
        ctx.metrics.end_live(owner.namespace, owner.name)
        if observation.levels:
            ctx.metrics.record_levels(
                owner.namespace, owner.name, observation.model, list(observation.levels)
            )
    else:
        ctx.metrics.record_recommendation(
            owner.namespace, owner.name, observation.deployment, observation.replicas
        )


def forget(ctx: Context, uid: str, namespace: str, name: str) -> None:
    """Drop what this process remembers of a deleted object, and its metric series."""
    for key in [k for k in ctx.stored if k.startswith(f"{uid}/")]:
        del ctx.stored[key]
    if ctx.store is not None:
        ctx.store.forget(uid)
    ctx.metrics.forget(namespace, name)
