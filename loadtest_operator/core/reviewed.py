"""Whether the admission webhook reviewed an object's author (pure; docs/security.md, "Objects the webhook
never saw").

The API server admits an object without asking the operator when no webhook configuration sends it there:
it was created before the configuration existed (or while it was deleted), in a namespace or with labels
the configuration does not select, or under `failurePolicy: Ignore` (which admits whatever the webhook
does not answer in time). Such an object's author was never reviewed, so the operator applies the rule of
an operator without a webhook to it: a referenced Secret or Deployment must carry the opt-in label.

The evidence is what a team cannot write: the object's `creationTimestamp` (set by the API server) and the
cluster-scoped configuration (only cluster admins write it). The chart renames the configuration whenever
what it covers changes (watchNamespaces, failurePolicy), so a configuration's `creationTimestamp` is when
its coverage began. An object created in the same second as the configuration counts as before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from loadtest_operator.core.selectors import selector_matches

GROUP = "llmload.io"


def timestamp(meta: Mapping[str, Any]) -> datetime | None:
    """An object's metadata.creationTimestamp, or None when absent or unreadable."""
    stamp = meta.get("creationTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def _has(values: Sequence[str] | None, *wanted: str) -> bool:
    got = set(values or [])
    return "*" in got or set(wanted) <= got


def hook_covers(hook: Mapping[str, Any], plural: str) -> bool:
    """Whether a webhook of the configuration is asked about every CREATE and UPDATE of `plural`."""
    for rule in hook.get("rules") or []:
        resources = {str(r).split("/", 1)[0] if str(r) != "*/*" else "*" for r in rule.get("resources") or []}
        if (
            _has(rule.get("apiGroups"), GROUP)
            and ("*" in resources or plural in resources)
            and _has(rule.get("operations"), "CREATE", "UPDATE")
        ):
            return True
    return False


def needs_namespace_labels(config: Mapping[str, Any] | None) -> bool:
    return any(h.get("namespaceSelector") for h in (config or {}).get("webhooks") or [])


def review_gap(
    config: Mapping[str, Any] | None,
    *,
    name: str | None,
    kind: str,
    plural: str,
    meta: Mapping[str, Any],
    namespace_labels: Mapping[str, str] | None,
) -> str | None:
    """Why the admission webhook cannot have reviewed the author of the object with metadata `meta`;
    None when it did (the configuration `name` covered the object's every write since its creation)."""
    if not name:
        return (
            "the operator does not know which ValidatingWebhookConfiguration reviews its objects "
            "(LLMLOAD_WEBHOOK_CONFIGURATION is unset)"
        )
    if config is None:
        return f"the ValidatingWebhookConfiguration {name!r} does not exist"
    hooks = [h for h in config.get("webhooks") or [] if hook_covers(h, plural)]
    if not hooks:
        return f"the ValidatingWebhookConfiguration {name!r} does not send {plural} to the operator"
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    selected = [h for h in hooks if selector_matches(h.get("objectSelector"), labels)]
    if not selected:
        return f"{kind} {meta.get('name')!r} has labels that {name!r} does not select"
    if namespace_labels is None and any(h.get("namespaceSelector") for h in selected):
        return f"the namespace of {kind} {meta.get('name')!r} could not be read to match {name!r}"
    selected = [h for h in selected if selector_matches(h.get("namespaceSelector"), namespace_labels or {})]
    if not selected:
        return f"{name!r} does not select namespace {meta.get('namespace')!r}"
    if all(h.get("failurePolicy", "Fail") != "Fail" for h in selected):
        return (
            f"{name!r} has failurePolicy Ignore, which admits objects unreviewed whenever the webhook does "
            "not answer"
        )
    created, since = timestamp(meta), timestamp(config.get("metadata") or {})
    if created is None or since is None:
        return f"the creation time of {kind} {meta.get('name')!r} or of {name!r} is unknown"
    if created <= since:
        return (
            f"{kind} {meta.get('name')!r} was created at {created.isoformat()}, before the admission webhook "
            f"{name!r} was ({since.isoformat()})"
        )
    return None
