"""Who owns a run's objects: the LoadTest, by owner reference."""

from dataclasses import dataclass
from typing import Any

from loadtest_operator.api import API_VERSION, KIND


@dataclass(frozen=True, slots=True)
class Owner:
    """The identity of a LoadTest, from its metadata."""

    name: str
    namespace: str
    uid: str


def owner_reference(owner: Owner) -> dict[str, Any]:
    """Controller owner reference: deleting the LoadTest garbage-collects the object, and
    blockOwnerDeletion keeps the LoadTest around (foreground deletion) until its children are gone."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_metadata(owner: Owner, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """metadata of an object owned by `owner`, in its namespace."""
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
