"""Models to the JSON the Kubernetes API accepts.

The local cluster's API server (Debian's Kubernetes 1.20.2 build) validates an empty string in a custom
resource as null, and so rejects it ("must be of type string: null"), even in a CRD default. Empty strings
therefore never leave the operator: `to_wire` drops them like unset fields, and the models treat an absent
string as empty when reading back.
"""

from typing import Any

from pydantic import BaseModel


def strip_empty(value: Any) -> Any:
    """`value` with every empty-string and None mapping entry removed, recursively."""
    if isinstance(value, dict):
        return {k: strip_empty(v) for k, v in value.items() if v is not None and v != ""}
    if isinstance(value, list):
        return [strip_empty(v) for v in value]
    return value


def to_wire(model: BaseModel) -> dict[str, Any]:
    """`model` as camelCase JSON for a create or a status patch: no None, no empty strings."""
    wire: dict[str, Any] = strip_empty(model.model_dump(mode="json", by_alias=True, exclude_none=True))
    return wire
