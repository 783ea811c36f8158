"""The one executor: carries out any kind's plan, idempotently.

Creates children (409 AlreadyExists is success), deletes children (404 is success), merges keys into
ConfigMaps (the shards' start signals; a ConfigMap gone is no error), scales, writes the
store (once per distinct record per process) and lets the plan settle the status on the outcome, posts
events, counts outcomes, and returns the merge patch that turns the status read into the status wanted
(empty when nothing changed, so an idle tick writes nothing).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import Any

from pydantic import BaseModel

from loadtest_operator.api.wire import to_wire
from loadtest_operator.core.owner import Owner, owned_by
from loadtest_operator.core.patch import merge_patch
from loadtest_operator.core.plan import (
    LiveLevel,
    Observation,
    Plan,
    RecommendationRecord,
    RunEnded,
    RunRecord,
    StoreFailure,
    StoreWrite,
)
from loadtest_operator.io.store import StoreRejectedError, StoreUnavailableError
from loadtest_operator.reconcile.context import Context, EventSink


async def execute(
    ctx: Context, owner: Owner, previous: Mapping[str, Any], decided: Plan, event: EventSink
) -> dict[str, Any]:
    """Do what `decided` says for `owner`; the status merge patch to write."""
    who = f"{owner.kind} {owner.namespace}/{owner.name}"
    await _create_all(ctx, owner, decided.create)
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


# Created after every other child: a shard's pod needs the run's ServiceAccount to be admitted and mounts
# its ConfigMaps (a pod made before them fails, and the Job controller retries it only after a back-off).
LAST_KINDS = frozenset({"Job"})


async def _create_all(ctx: Context, owner: Owner, manifests: Sequence[dict[str, Any]]) -> None:
    """Create the children: independent ones at once (a run's start is a handful of API writes, which one
    after another made a burst of LoadTests wait seconds for their Jobs; docs/scale.md), in two waves.
    An object found under a child's name that is not ours refuses the run (AdoptionRefusedError, with the
    children this call did create or find owned, for the caller to stop)."""
    ours: list[tuple[str, str]] = []
    first = [m for m in manifests if m["kind"] not in LAST_KINDS]
    last = [m for m in manifests if m["kind"] in LAST_KINDS]
    for wave in (first, last):
        found = await asyncio.gather(*(_create(ctx, owner, manifest) for manifest in wave))
        refused = None
        for manifest, existing in zip(wave, found, strict=True):
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            if existing and not owned_by(existing, owner):
                # A name is not a claim: an object planted under a child's name is never used as ours.
                refused = refused or (
                    f"{kind} {name} already exists and is not owned by this {owner.kind}; refusing to use "
                    f"it (change spec.runId for new names, or delete it and change spec.runId)"
                )
            else:
                ours.append((kind, name))
        if refused is not None:
            raise AdoptionRefusedError(refused, tuple(ours))


async def _create(ctx: Context, owner: Owner, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """One child created in the owner's namespace: None when this call created it, else what is there."""
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": owner.namespace}}
    existing = await ctx.kube.create(manifest)
    if existing is None:
        ctx.log.info(
            "%s %s/%s: created %s %s",
            owner.kind, owner.namespace, owner.name, manifest["kind"], manifest["metadata"]["name"],
        )  # fmt: skip
    return existing


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
    fingerprint = f"{ctx.store.empty_databases}:{record_digest(write.record)}"
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


def record_digest(record: RunRecord | RecommendationRecord) -> str:
    """A digest of everything in a store record but its `updated_at`. One is remembered per object for
    the process's life, hence a digest; built from pydantic's own JSON (dataclasses.asdict deep-copies
    every model and str() of a model is slow: ~40 % of a check's event-loop CPU in a profile)."""
    digest = hashlib.sha256()
    for f in fields(record):
        if f.name != "updated_at":
            digest.update(f"{f.name}={_as_text(getattr(record, f.name))};".encode())
    return digest.hexdigest()


def _as_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if is_dataclass(value) and not isinstance(value, type):
        return "{" + ",".join(f"{f.name}={_as_text(getattr(value, f.name))}" for f in fields(value)) + "}"
    if isinstance(value, tuple | list):
        return "[" + ",".join(_as_text(v) for v in value) + "]"
    return json.dumps(value, sort_keys=True, default=str)


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
