"""The target's fingerprint from objects already read: the serving container of each target pod, its
image and the vLLM options in its command line (pure).

vLLM is started in many spellings, all handled: `vllm serve MODEL --opt v`, `--opt=v`, short aliases
(`-tp 2`, `-pp 2`, `-q awq`), the legacy `python -m vllm.entrypoints.openai.api_server --model M`, and a
shell wrapper (`sh -c "vllm serve ..."`). Kubernetes' `$(VAR)` references are expanded from the
container's literal `env` values only; a variable from a Secret or ConfigMap stays unexpanded (its value
is never read). Only the options below are kept, never the raw arguments (they may carry `--api-key`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_operator.api.fingerprint import (
    MAX_FINGERPRINT_ITEMS,
    MAX_SERVING_CONFIGS,
    ServingConfig,
    TargetFingerprint,
    bounded,
)
from loadtest_operator.loadtest.target import GPU_RESOURCE

# option -> (ServingConfig field, kind); aliases as vLLM's argument parser accepts them.
OPTIONS: dict[str, tuple[str, str]] = {
    "--model": ("model", "str"),
    "--served-model-name": ("served_model_name", "str"),
    "--tensor-parallel-size": ("tensor_parallel_size", "int"),
    "-tp": ("tensor_parallel_size", "int"),
    "--pipeline-parallel-size": ("pipeline_parallel_size", "int"),
    "-pp": ("pipeline_parallel_size", "int"),
    "--max-num-seqs": ("max_num_seqs", "int"),
    "--max-model-len": ("max_model_len", "int"),
    "--dtype": ("dtype", "str"),
    "--quantization": ("quantization", "str"),
    "-q": ("quantization", "str"),
    "--kv-cache-dtype": ("kv_cache_dtype", "str"),
    "--gpu-memory-utilization": ("gpu_memory_utilization", "str"),
}
FLAGS: dict[str, tuple[str, bool]] = {
    "--enable-prefix-caching": ("enable_prefix_caching", True),
    "--no-enable-prefix-caching": ("enable_prefix_caching", False),
}
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_INT = re.compile(r"^[0-9]{1,9}$")


def command_line(container: Mapping[str, Any]) -> list[str]:
    """command + args, with `$(VAR)` expanded from literal env values, and a shell's `-c` script split."""
    env = {
        str(e.get("name")): str(e["value"])
        for e in container.get("env") or []
        if isinstance(e, Mapping) and isinstance(e.get("value"), str)
    }
    words = [str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]]
    words = [_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), w) for w in words]
    out: list[str] = []
    for word in words:
        if " " in word and "vllm" in word:  # a shell script: `sh -c "vllm serve m --opt v"`
            try:
                out += shlex.split(word, comments=True)
            except ValueError:
                out += word.split()
        else:
            out.append(word)
    return out


def parse_vllm_args(words: Sequence[str]) -> dict[str, Any]:
    """The known vLLM options of one command line, by ServingConfig field."""
    found: dict[str, Any] = {}
    words = list(words)
    for i, word in enumerate(words):
        if word == "serve" and i > 0 and words[i - 1].endswith("vllm"):
            following = words[i + 1] if i + 1 < len(words) else ""
            if following and not following.startswith("-"):
                found["model"] = following  # `vllm serve MODEL`
            continue
        name, _, inline = word.partition("=")
        if name in FLAGS and not inline:
            flag_field, on = FLAGS[name]
            found[flag_field] = on
        elif name in OPTIONS:
            field, kind = OPTIONS[name]
            value = inline if inline else (words[i + 1] if i + 1 < len(words) else "")
            if kind == "int":
                if _INT.match(value):
                    found[field] = int(value)
            elif value and not value.startswith("-"):
                found[field] = value
    return {k: bounded(v) if isinstance(v, str) else v for k, v in found.items()}


def serving_container(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The container that runs vLLM: the first whose command line names vllm, else the first holding a
    GPU, else the first."""
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, Mapping)]
    for container in containers:
        if any("vllm" in w for w in command_line(container)) or "vllm" in str(container.get("image", "")):
            return container
    for container in containers:
        resources = container.get("resources") or {}
        if GPU_RESOURCE in (resources.get("limits") or {}) or GPU_RESOURCE in (
            resources.get("requests") or {}
        ):
            return container
    return containers[0] if containers else None


def _image_id(pod: Mapping[str, Any], container: str) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return bounded(str(status.get("imageID") or "")) or None
    return None


def serving_config(pod: Mapping[str, Any]) -> ServingConfig | None:
    container = serving_container(pod)
    if container is None:
        return None
    name = str(container.get("name") or "")
    return ServingConfig(
        pods=[bounded(str((pod.get("metadata") or {}).get("name", ""))) or ""],
        container=bounded(name),
        image=bounded(str(container.get("image") or "")),
        image_id=_image_id(pod, name),
        **parse_vllm_args(command_line(container)),
    )


def target_fingerprint(pods: Sequence[Mapping[str, Any]], vllm_version: str | None) -> TargetFingerprint:
    """One entry per distinct configuration (the pods running it listed); `consistent` is False when the
    pods differ (a rollout in progress)."""
    configs: dict[str, ServingConfig] = {}
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
        config = serving_config(pod)
        if config is None:
            continue
        # image_id may differ only while a tag moves: still a different server.
        key = config.model_copy(update={"pods": []}).model_dump_json()
        if key in configs:
            known = configs[key]
            if len(known.pods) < MAX_FINGERPRINT_ITEMS:
                configs[key] = known.model_copy(update={"pods": [*known.pods, *config.pods]})
        elif len(configs) < MAX_SERVING_CONFIGS:
            configs[key] = config
    nodes = sorted({str(n) for p in pods if (n := (p.get("spec") or {}).get("nodeName"))})
    return TargetFingerprint(
        vllm_version=vllm_version,
        serving=list(configs.values()) or None,
        consistent=len(configs) <= 1 if configs else None,
        nodes=[bounded(n) or "" for n in nodes[:MAX_FINGERPRINT_ITEMS]] or None,
    )


def with_gpus(
    fingerprint: TargetFingerprint | None, gpu_models: Sequence[str] | None, drivers: Sequence[str] | None
) -> TargetFingerprint:
    """The fingerprint completed with what dcgm-exporter's labels said about the GPUs."""
    base = fingerprint or TargetFingerprint()
    return base.model_copy(
        update={
            "gpu_models": [bounded(m) or "" for m in (gpu_models or [])[:MAX_FINGERPRINT_ITEMS]] or None,
            "driver_versions": [bounded(d) or "" for d in (drivers or [])[:MAX_FINGERPRINT_ITEMS]] or None,
        }
    )
