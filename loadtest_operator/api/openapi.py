"""Turn pydantic's JSON Schema into a Kubernetes structural OpenAPI v3 schema.

Structural schemas (apiextensions.k8s.io/v1) forbid `$ref`, `$defs`, and `anyOf` branches that carry
types; they want a `type` on every node. Pydantic emits all of those, so this module inlines references,
turns `Optional[X]` (anyOf X | null) into plain X (an absent field is the Kubernetes way to say "unset"),
turns `int | str` into `x-kubernetes-int-or-string`, and drops JSON-Schema-only keys. Anything it does not
understand raises, so an unsupported construct in the models fails `crdgen` instead of producing a CRD
the API server rejects.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

# Keys copied as they are (already valid OpenAPI v3 in Kubernetes' JSONSchemaProps).
_PASSTHROUGH_KEYS = frozenset(
    {
        "description",
        "type",
        "format",
        "default",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
        "multipleOf",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
    }
)
# Keys dropped on purpose: documentation-only in JSON Schema, or handled structurally below.
_DROPPED_KEYS = frozenset({"title", "$defs", "examples"})
_RECURSIVE_KEYS = frozenset({"properties", "items", "additionalProperties", "$ref", "anyOf", "allOf"})


class UnsupportedSchemaError(ValueError):
    """The pydantic schema uses a construct a structural schema cannot express."""


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of `model`, with camelCase (alias) property names."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}), path=model.__name__)


def _convert(node: Mapping[str, Any], defs: Mapping[str, Any], path: str) -> JsonSchema:
    unknown = set(node) - _PASSTHROUGH_KEYS - _DROPPED_KEYS - _RECURSIVE_KEYS
    if unknown:
        raise UnsupportedSchemaError(f"{path}: unsupported JSON Schema keys {sorted(unknown)}")

    base = _resolve_composition(node, defs, path)
    out: JsonSchema = dict(base)
    for key, value in node.items():
        if key in _PASSTHROUGH_KEYS:
            if key == "default" and value in (None, ""):
                # Optional fields default to "absent", not to null; and "" is refused as a default by the
                # local 1.20 API server (see api/wire.py), so absent stands for empty too.
                continue
            out[key] = value
        elif key == "properties":
            out["properties"] = {name: _convert(sub, defs, f"{path}.{name}") for name, sub in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if not isinstance(value, Mapping):
                raise UnsupportedSchemaError(f"{path}: additionalProperties must be a schema")
            out["additionalProperties"] = _convert(value, defs, f"{path}{{}}")
    if "type" not in out and not out.get("x-kubernetes-int-or-string"):
        raise UnsupportedSchemaError(f"{path}: no type")
    return out


def _resolve_composition(node: Mapping[str, Any], defs: Mapping[str, Any], path: str) -> JsonSchema:
    """The schema a `$ref`, `allOf: [one]` or `anyOf` stands for, or {} when the node has none."""
    if "$ref" in node:
        return _convert(_lookup(node["$ref"], defs, path), defs, path)
    if "allOf" in node:
        (single,) = node["allOf"]
        return _convert(single, defs, path)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        if len(branches) == 1:
            return _convert(branches[0], defs, path)
        types = sorted(b.get("type", "") for b in branches)
        if types == ["integer", "string"]:
            return {"x-kubernetes-int-or-string": True}
        raise UnsupportedSchemaError(f"{path}: anyOf with several types {types} is not structural")
    return {}


def _lookup(ref: str, defs: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise UnsupportedSchemaError(f"{path}: cannot resolve {ref}")
    found: Mapping[str, Any] = defs[ref[len(prefix) :]]
    return found
