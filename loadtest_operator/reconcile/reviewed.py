"""Whether the admission webhook reviewed an object's author, read from the cluster (the decision is
core/reviewed.py): the ValidatingWebhookConfiguration the operator runs with, the object's namespace when
the configuration selects namespaces, and, for a CapacityRecommendation's child LoadTest, the parent (the
webhook trusts the operator's own writes, so a child is only as reviewed as the spec it was copied from).

Read each time a decision needs it, never cached: a configuration deleted and created again must be seen
at once, or an object written in between would pass for reviewed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest_operator.api import CAPACITY_KIND, CAPACITY_PLURAL, KIND, PLURAL
from loadtest_operator.core.reviewed import needs_namespace_labels, review_gap
from loadtest_operator.io.kube import KubeError
from loadtest_operator.reconcile.context import Context


@dataclass(frozen=True)
class Review:
    reviewed: bool  # the webhook reviewed the author: the referenced objects need no opt-in label
    gap: str | None = None  # with a webhook installed, why this object was not reviewed


async def review_of(ctx: Context, body: Mapping[str, Any], kind: str = KIND) -> Review:
    """Without a webhook nothing is reviewed (and nothing needs saying: that is the operator's mode)."""
    if not ctx.settings.admission_webhook:
        return Review(False)
    gap = await _gap(ctx, body, kind)
    if gap is None and kind == KIND:
        parent = _capacity_owner(body)
        if parent is not None:
            namespace = str(body["metadata"].get("namespace") or "")
            try:
                owner = await ctx.kube.capacity_recommendation(namespace, parent)
            except KubeError as exc:
                return Review(False, f"its CapacityRecommendation {parent!r} could not be read: {exc}")
            if owner is None:
                return Review(False, f"its CapacityRecommendation {parent!r} is gone")
            parent_gap = await _gap(ctx, owner, CAPACITY_KIND)
            if parent_gap is not None:
                return Review(False, f"it was copied from CapacityRecommendation {parent!r}: {parent_gap}")
    return Review(gap is None, gap)


async def _gap(ctx: Context, body: Mapping[str, Any], kind: str) -> str | None:
    meta: Mapping[str, Any] = body.get("metadata") or {}
    name = ctx.settings.webhook_configuration
    try:
        config = await ctx.kube.webhook_configuration(name) if name else None
        labels: Mapping[str, str] | None = None
        if needs_namespace_labels(config):
            namespace = await ctx.kube.namespace(str(meta.get("namespace") or ""))
            labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    except KubeError as exc:
        return f"the ValidatingWebhookConfiguration {name!r} could not be read: {exc}"
    plural = PLURAL if kind == KIND else CAPACITY_PLURAL
    return review_gap(config, name=name, kind=kind, plural=plural, meta=meta, namespace_labels=labels)


def _capacity_owner(body: Mapping[str, Any]) -> str | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == CAPACITY_KIND and ref.get("controller"):
            return str(ref.get("name") or "")
    return None
