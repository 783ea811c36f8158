"""Who may make the operator use what (pure): the admission webhook's decision, and the opt-in rules the
operator keeps where no webhook is installed.

The rule: nobody gets, through the operator, a right the cluster does not give them. A LoadTest's shard
sends `target.apiKeySecretRef`'s value to `target.url`; the operator sends the Prometheus token to
Prometheus; a CapacityRecommendation with `scaleDeployment` changes a Deployment's replicas. So the
person who creates or changes the object must be allowed, as themselves, to `get` each referenced Secret
and to `patch` the Deployment (or `update` its `deployments/scale`). The webhook asks the API server
(SubjectAccessReview, io/access.py); this module says which reviews to ask and what to answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# On a Secret or a Deployment, set by someone who may write that object: "the operator may use this
# object for LoadTests" (only consulted where no admission webhook reviews the author's rights).
OPT_IN_LABEL = "llmload.io/allow-loadtest"
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"


@dataclass(frozen=True, slots=True)
class Requester:
    """The author of the request, as the API server authenticated them (AdmissionReview userInfo)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] | None = None

    @classmethod
    def of(cls, userinfo: Mapping[str, Any]) -> Requester:
        extra = {str(k): tuple(str(x) for x in v or ()) for k, v in (userinfo.get("extra") or {}).items()}
        return cls(
            username=str(userinfo.get("username") or ""),
            uid=str(userinfo.get("uid") or ""),
            groups=tuple(str(g) for g in userinfo.get("groups") or ()),
            extra=extra or None,
        )


@dataclass(frozen=True, slots=True)
class Access:
    """One right on one object: a SubjectAccessReview's resourceAttributes."""

    verb: str
    resource: str
    name: str
    namespace: str
    group: str = ""
    subresource: str = ""

    def describe(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {resource} {self.name!r}"

    def attributes(self) -> dict[str, str]:
        """The SubjectAccessReview's spec.resourceAttributes."""
        attrs = {
            "namespace": self.namespace,
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
            "name": self.name,
        }
        if self.subresource:
            attrs["subresource"] = self.subresource
        return attrs


@dataclass(frozen=True, slots=True)
class Requirement:
    """A right the author must hold for one field of the spec: any one of `any_of` will do."""

    field: str
    why: str
    any_of: tuple[Access, ...]


def _secret(namespace: str, ref: Any, field: str, why: str) -> list[Requirement]:
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return []
    return [Requirement(field, why, (Access("get", "secrets", str(ref["name"]), namespace),))]


def requirements(kind: str, namespace: str, spec: Mapping[str, Any]) -> list[Requirement]:
    """The rights the author of this spec must hold, one per referencing field (both kinds)."""
    target = spec.get("target") or {}
    prometheus = spec.get("prometheus") or {}
    needed = _secret(
        namespace,
        target.get("apiKeySecretRef"),
        "spec.target.apiKeySecretRef",
        "the load generator sends this Secret's value to the target, so only someone who may read it may "
        "name it",
    )
    needed += _secret(
        namespace,
        prometheus.get("bearerTokenSecretRef"),
        "spec.prometheus.bearerTokenSecretRef",
        "the operator sends this Secret's value to Prometheus, so only someone who may read it may name it",
    )
    deployment = (target.get("deploymentRef") or {}).get("name")
    if kind == "CapacityRecommendation" and spec.get("scaleDeployment") is True and deployment:
        name = str(deployment)
        needed.append(
            Requirement(
                "spec.target.deploymentRef",
                "scaleDeployment: true makes the operator set this Deployment's replicas, so only someone "
                "who may scale it may ask for that",
                (
                    Access("patch", "deployments", name, namespace, group="apps"),
                    Access("update", "deployments", name, namespace, group="apps", subresource="scale"),
                ),
            )
        )
    return needed


def reviews(needed: Sequence[Requirement]) -> list[Access]:
    """Every distinct right to ask the API server about, in order."""
    seen: dict[Access, None] = {}
    for requirement in needed:
        for access in requirement.any_of:
            seen.setdefault(access)
    return list(seen)


def _subject_flag(user: Requester) -> str:
    prefix = "system:serviceaccount:"
    if user.username.startswith(prefix) and user.username.count(":") == 3:
        namespace, name = user.username[len(prefix) :].split(":")
        return f"--serviceaccount={namespace}:{name}"
    return f"--user={user.username}"


def how_to_get(access: Access, user: Requester) -> str:
    """The kubectl commands a namespace admin runs to grant exactly this right."""
    role = f"llmload-{access.verb}-{access.resource.split('.')[0]}-{access.name}"[:63].rstrip("-")
    resource = access.resource + (f"/{access.subresource}" if access.subresource else "")
    resource = f"{resource}.{access.group}" if access.group else resource
    return (
        f"kubectl create role {role} -n {access.namespace} --verb={access.verb} --resource={resource} "
        f"--resource-name={access.name} && kubectl create rolebinding {role} -n {access.namespace} "
        f"--role={role} {_subject_flag(user)}"
    )


def refusal(requirement: Requirement, user: Requester) -> str:
    """What the author lacks, why it is needed, and how to get it."""
    first = requirement.any_of[0]
    lacking = " nor ".join(a.describe() for a in requirement.any_of)
    verb = "may neither" if len(requirement.any_of) > 1 else "may not"
    return (
        f"{requirement.field}: user {user.username!r} {verb} {lacking} in namespace {first.namespace!r}; "
        f"{requirement.why}. Ask an admin of {first.namespace!r} for the right "
        f"({how_to_get(first, user)}), or name an object you may use."
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    message: str = ""


def image_refusal(spec: Mapping[str, Any], allowed: Sequence[str]) -> str | None:
    """Why `spec.loadGenerator.image` may not run, or None. Unset is always allowed (the operator's own
    image); an entry matches exactly, or by prefix when it ends with `*`."""
    image = (spec.get("loadGenerator") or {}).get("image")
    if image is None or image_allowed(str(image), allowed):
        return None
    listed = ", ".join(repr(a) for a in allowed) or "none"
    return (
        f"spec.loadGenerator.image: {image!r} is not in the operator's image allow-list ({listed}); "
        "leave the field unset to run the operator's own load generator, or ask the platform team to add "
        "the image to the chart's loadGenerator.allowedImages"
    )


def image_allowed(image: str, allowed: Sequence[str]) -> bool:
    return any(image.startswith(a[:-1]) if a.endswith("*") else image == a for a in allowed)


def decide(
    user: Requester,
    needed: Sequence[Requirement],
    answers: Mapping[Access, bool],
    image: str | None = None,
) -> Verdict:
    """The webhook's answer: refused when any requirement has no allowed alternative (a review that was
    not answered counts as refused), or the image is not allowed; every reason is in the message."""
    reasons = [refusal(r, user) for r in needed if not any(answers.get(a, False) for a in r.any_of)]
    if image is not None:
        reasons.append(image)
    if not reasons:
        return Verdict(True)
    return Verdict(False, " | ".join(reasons))


def spec_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """An UPDATE that leaves the spec alone (labels, finalizers, the deletion's finalizer removal) needs
    no review: what the spec references was reviewed when it was written."""
    if old is None:
        return True
    return (old.get("spec") or {}) != ((new or {}).get("spec") or {})


# -- where no webhook is installed: the objects' own opt-in -------------------------------------------


def opted_in(obj: Mapping[str, Any] | None) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(OPT_IN_LABEL, "")).lower() == "true"


def opt_in_refusal(kind: str, name: str, field: str, unreviewed: str | None = None) -> str:
    """Why a referenced object is not used without its opt-in label: no webhook is installed, or (with
    `unreviewed`, core/reviewed.py) it never reviewed the object that names it."""
    if unreviewed:
        return (
            f"{field}: {kind} {name!r} does not carry the label {OPT_IN_LABEL}=true, and the admission webhook "
            f"never checked that you may use it ({unreviewed}); delete this object and create it again so "
            f"that the webhook reviews it, or ask whoever may change the {kind} to run "
            f"`kubectl label {kind.lower()} {name} {OPT_IN_LABEL}=true`"
        )
    return (
        f"{field}: {kind} {name!r} does not carry the label {OPT_IN_LABEL}=true, and no admission webhook "
        "checked that you may use it; ask whoever may change it to run "
        f"`kubectl label {kind.lower()} {name} {OPT_IN_LABEL}=true`, or ask the platform team to install "
        "the chart with webhook.enabled=true"
    )


def unseen_opt_in_refusal(name: str, field: str, unreviewed: str) -> str:
    """The webhook never reviewed the object, and the operator reads no Secrets to see the opt-in label."""
    return (
        f"{field}: the admission webhook never checked that you may use Secret {name!r} ({unreviewed}), and "
        "the operator reads no Secrets (the chart's rbac.readSecrets=false), so it cannot see the Secret's "
        f"{OPT_IN_LABEL} label either; delete this object and create it again so that the webhook reviews it"
    )


def is_service_account_token(secret: Mapping[str, Any] | None) -> bool:
    return (secret or {}).get("type") == SERVICE_ACCOUNT_TOKEN_TYPE


def service_account_token_refusal(name: str, field: str) -> str:
    return (
        f"{field}: Secret {name!r} is a ServiceAccount token (type {SERVICE_ACCOUNT_TOKEN_TYPE}); the "
        "operator never sends cluster credentials to a server: put the server's own key in an Opaque Secret"
    )
