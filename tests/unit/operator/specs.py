"""Spec fixtures for the operator's unit tests: one valid LoadTest spec, and a way to vary it."""

import copy
from collections.abc import Mapping
from typing import Any

from loadtest_operator.api import LoadTestSpec
from loadtest_operator.core.owner import Owner

OWNER = Owner(name="llama-sweep", namespace="bench", uid="6f1c9a52-3d1e-4f0a-9a51-0c3f0b7d2e11")

# Written as a user would in YAML (camelCase), so the tests also exercise the aliases.
VALID_SPEC: dict[str, Any] = {
    "target": {"serviceRef": {"name": "vllm", "port": 8000}, "model": "llama-3-8b"},
    "workload": {
        "inputTokens": {"distribution": "Normal", "mean": 512, "stddev": 64, "min": 16, "max": 1024},
        "outputTokens": {"distribution": "Fixed", "mean": 128},
    },
    "load": {"mode": "Concurrency", "levels": [4, 8, 16], "requestsPerLevel": 200, "timeoutSeconds": 60},
    "slo": {"ttftMilliseconds": 500, "tpotMilliseconds": 50, "percentile": 90},
    "loadGenerator": {"parallelism": 2},
}

DELETE = object()


def merged(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in recursively; a DELETE value removes the key."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_spec(patch: Mapping[str, Any] | None = None) -> LoadTestSpec:
    """VALID_SPEC with `patch` applied, parsed as the operator parses a LoadTest's spec."""
    return LoadTestSpec.model_validate(merged(VALID_SPEC, patch or {}))
