"""Hypothesis strategies for LoadTest and CapacityRecommendation specs, built from the CRDs' own OpenAPI
schemas (crds/*.yaml, so they follow every schema change), with deliberately wrong values mixed in: out of
range, the wrong type, an unknown enum member, a string that breaks its pattern, a required key missing.

Two shapes of spec: one drawn whole from the schema (mostly refused, by the schema or the operator), and
one a valid example with a few fields redrawn (mostly accepted, or refused for one precise reason).

URLs are always loopback (127.0.0.1, port 9, where nothing listens) or malformed: the operator asks a
URL target for /v1/models and a Prometheus URL for series, and nothing may leave the machine.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
WRONG_ONE_IN = 30  # about one leaf in 30 gets a deliberately wrong value

LOOPBACK_URLS = [
    "http://127.0.0.1:9",
    "http://127.0.0.1:9/v1",
    "https://127.0.0.1:9/prefix/",
    "http://localhost:9",
]
WRONG_URLS = [
    "http://user:secret@127.0.0.1:9",  # credentials in a URL: refused by the operator
    "ftp://127.0.0.1:9",
    "http://127.0.0.1:9/a path",
    "127.0.0.1:9",
    "",
]
QUANTITIES: list[Any] = ["50m", "1", "2", "64Mi", "1Gi", "0.5", 1, 2]
WRONG_QUANTITIES: list[Any] = ["lots", "-1", "1.5.5", "", "1Zi", True, -3]
RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"]
IMAGES = ["localhost/llmload/llmload:dev", "localhost/other:1", "Not An Image", "x" * 1025]
NAMES = st.from_regex(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
KEYS = st.from_regex(r"[-._a-zA-Z0-9]{1,16}", fullmatch=True)
CHARACTERS = st.characters(exclude_categories=["Cs"])  # no lone surrogates: not JSON-encodable
TEXT = st.text(CHARACTERS, min_size=0, max_size=24)


def crd_spec_schema(file: str) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / file).read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def sometimes_wrong(valid: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(1, WRONG_ONE_IN).flatmap(lambda r: wrong if r == 1 else valid)


def from_schema(schema: Mapping[str, Any], name: str = "spec") -> st.SearchStrategy[Any]:
    """Values for `schema` (a structural OpenAPI v3 schema as the CRD holds it), now and then wrong."""
    wrong_type: st.SearchStrategy[Any] = st.sampled_from(["x", -1, 1.5, True, [], {}, None])
    if schema.get("x-kubernetes-int-or-string"):
        return sometimes_wrong(st.sampled_from(QUANTITIES), st.sampled_from(WRONG_QUANTITIES))
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return _object(schema)
    if kind == "object":
        values = from_schema(schema.get("additionalProperties") or {"type": "string"})
        keys = st.sampled_from(RESOURCE_NAMES) if name in ("requests", "limits") else KEYS
        return sometimes_wrong(st.dictionaries(keys, values, max_size=3), wrong_type)
    if kind == "array":
        low, high = int(schema.get("minItems", 0)), int(schema.get("maxItems", 16))
        items = from_schema(schema["items"], name)
        valid = st.lists(items, min_size=low, max_size=min(high, 6)).map(
            lambda xs: _sorted(xs) if name == "levels" and len(xs) % 3 else xs  # mostly sorted, as people do
        )
        wrong = st.one_of(st.just([]), st.lists(items, min_size=high + 1, max_size=high + 2), wrong_type)
        return sometimes_wrong(valid, wrong)
    if "enum" in schema:
        return sometimes_wrong(st.sampled_from(schema["enum"]), st.sampled_from(["", "bogus", "fixed"]))
    if kind == "integer":
        low, high = int(schema.get("minimum", -(2**31))), int(schema.get("maximum", 2**31))
        valid = st.one_of(st.integers(low, min(high, low + 64)), st.integers(low, high))
        wrong = st.one_of(st.integers(high + 1, high + 10_000), st.integers(low - 100, low - 1), wrong_type)
        return sometimes_wrong(valid, wrong)
    if kind == "boolean":
        return sometimes_wrong(st.booleans(), st.sampled_from(["yes", 1, None]))
    if kind == "string":
        return sometimes_wrong(_string(schema, name), st.one_of(wrong_type, st.just(""), TEXT))
    return wrong_type


def _sorted(xs: list[Any]) -> list[Any]:
    return sorted(xs, key=lambda x: (not isinstance(x, int), str(x) if not isinstance(x, int) else x))


def _string(schema: Mapping[str, Any], name: str) -> st.SearchStrategy[Any]:
    pattern = schema.get("pattern", "")
    if name == "url":
        return st.sampled_from(LOOPBACK_URLS + WRONG_URLS)
    if name == "image":
        return st.sampled_from(IMAGES)
    if name == "name":
        return NAMES
    if name == "key":
        return KEYS
    if pattern:
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 64))
        return st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= high)
    return st.text(CHARACTERS, min_size=1, max_size=40)


def _object(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    props: Mapping[str, Any] = schema["properties"]
    required = list(schema.get("required") or [])
    fields = {k: from_schema(v, k) for k, v in props.items()}
    valid = st.fixed_dictionaries(
        {k: fields[k] for k in required}, optional={k: v for k, v in fields.items() if k not in required}
    )

    def break_it(d: dict[str, Any], how: int) -> dict[str, Any]:
        out = dict(d)
        if how == 0 and required:
            out.pop(required[0], None)  # a required key missing
        else:
            out["notAField"] = 1  # an unknown field: pruned by the API server
        return out

    wrong = st.tuples(valid, st.integers(0, 1)).map(lambda t: break_it(*t))
    return sometimes_wrong(valid, wrong)


def leaf_paths(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every field of the schema by its path, with its schema (objects with properties are descended)."""
    out: dict[tuple[str, ...], Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        path = (*prefix, key)
        out[path] = sub
        if sub.get("type") == "object" and "properties" in sub:
            out.update(leaf_paths(sub, path))
    return out


def _set(spec: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    node = out
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    return out


def mutations(base: dict[str, Any], schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with one to three fields redrawn from the schema (or dropped)."""
    paths = leaf_paths(schema)
    keys = sorted(paths)
    field = st.sampled_from(keys).flatmap(
        lambda p: st.tuples(st.just(p), st.one_of(from_schema(paths[p], p[-1]), st.just(DROP)))
    )

    def apply(changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
        spec = base
        for path, value in changes:
            spec = _drop(spec, path) if value is DROP else _set(spec, path, value)
        return spec

    return st.lists(field, min_size=1, max_size=3).map(apply)


DROP = object()


def _drop(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    node: Any = out
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return out
    if isinstance(node, dict):
        node.pop(path[-1], None)
    return out


VALID_LOADTEST: dict[str, Any] = {
    "target": {"serviceRef": {"name": "vllm", "port": 8000}, "model": "m"},
    "workload": {"inputTokens": {"mean": 64}, "outputTokens": {"mean": 16}},
    "load": {"levels": [2, 4], "requestsPerLevel": 40},
    "loadGenerator": {"parallelism": 2},
}
VALID_CAPACITY: dict[str, Any] = {
    "target": {"serviceRef": {"name": "vllm", "port": 8000}, "deploymentRef": {"name": "vllm"}},
    "workload": {"peakConcurrency": 50, "inputTokens": {"mean": 64}, "outputTokens": {"mean": 16}},
    "slo": {"ttftMilliseconds": 500, "tpotMilliseconds": 50},
    "requestsPerLevel": 40,
}


@cache
def specs(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Specs of `kind` (LoadTest or CapacityRecommendation): half drawn whole, half mutated examples."""
    file, base = {
        "LoadTest": ("loadtest.yaml", VALID_LOADTEST),
        "CapacityRecommendation": ("capacityrecommendation.yaml", VALID_CAPACITY),
    }[kind]
    schema = crd_spec_schema(file)
    whole: st.SearchStrategy[Any] = from_schema(schema).filter(lambda s: isinstance(s, dict))
    return st.one_of(whole, mutations(base, schema))
