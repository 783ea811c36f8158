"""Who owns an object: a LoadTest owns its run's objects, a CapacityRecommendation its child LoadTests.
One owner reference for both, so deleting the owner garbage-collects every child."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest_operator.api import API_VERSION, KIND


@dataclass(frozen=True, slots=True)
class Owner:
    """The identity of a custom resource, from its metadata."""

    name: str
    namespace: str
    uid: str
    kind: str = KIND

    @classmethod
    def of(cls, body: Mapping[str, Any], kind: str = KIND) -> "Owner":
        meta = body["metadata"]
        return cls(name=str(meta["name"]), namespace=str(meta["namespace"]), uid=str(meta["uid"]), kind=kind)


def owner_reference(owner: Owner) -> dict[str, Any]:
    """Controller owner reference: deleting the owner garbage-collects the object, and
    blockOwnerDeletion keeps the owner around (foreground deletion) until its children are gone."""
    return {
        "apiVersion": API_VERSION,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Mapping[str, Any], owner: Owner) -> bool:
    """Whether `owner` is `obj`'s controller (the objects a run uses must be its own, never adopted)."""
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.uid and ref.get("controller") for ref in references)


def object_metadata(
    owner: Owner, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """metadata of an object owned by `owner`, in its namespace."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        metadata["annotations"] = annotations
    return metadata
