"""The target's fingerprint from its pods: vLLM's options in every spelling people start it with, the
serving container among sidecars, distinct configurations, bounded strings, and nothing secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadtest_operator.api.fingerprint import MAX_FINGERPRINT_TEXT
from loadtest_operator.loadtest.fingerprint import (
    command_line,
    parse_vllm_args,
    serving_container,
    target_fingerprint,
    with_gpus,
)

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (  # the vllm/vllm-openai image's entrypoint, options as separate words
            {"args": ["--model", MODEL, "--tensor-parallel-size", "2", "--max-num-seqs", "128"]},
            {"model": MODEL, "tensor_parallel_size": 2, "max_num_seqs": 128},
        ),
        (  # --opt=value
            {"args": [f"--model={MODEL}", "--tensor-parallel-size=2", "--dtype=bfloat16"]},
            {"model": MODEL, "tensor_parallel_size": 2, "dtype": "bfloat16"},
        ),
        (  # short aliases
            {"command": ["vllm", "serve", MODEL], "args": ["-tp", "4", "-pp", "2", "-q", "awq"]},
            {"model": MODEL, "tensor_parallel_size": 4, "pipeline_parallel_size": 2, "quantization": "awq"},
        ),
        (  # `vllm serve MODEL` positional, through a path
            {"command": ["/usr/local/bin/vllm"], "args": ["serve", MODEL, "--enable-prefix-caching"]},
            {"model": MODEL, "enable_prefix_caching": True},
        ),
        (  # the legacy module entrypoint
            {
                "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                "args": ["--model", MODEL, "--no-enable-prefix-caching", "--max-model-len", "8192"],
            },
            {"model": MODEL, "enable_prefix_caching": False, "max_model_len": 8192},
        ),
        (  # a shell wrapper
            {
                "command": ["/bin/sh", "-c"],
                "args": [
                    f"exec vllm serve {MODEL} --kv-cache-dtype fp8 --gpu-memory-utilization 0.9 # tuned"
                ],
            },
            {"model": MODEL, "kv_cache_dtype": "fp8", "gpu_memory_utilization": "0.9"},
        ),
        (  # $(VAR) from a literal env value; one from a Secret stays unexpanded and is never read
            {
                "env": [
                    {"name": "MODEL", "value": MODEL},
                    {"name": "TP", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
                "args": ["--model", "$(MODEL)", "--served-model-name", "llama", "-tp", "$(TP)"],
            },
            {"model": MODEL, "served_model_name": "llama"},
        ),
    ],
    ids=["words", "equals", "aliases", "positional", "legacy", "shell", "env"],
)
def test_vllm_options_in_every_spelling(container: dict[str, Any], expected: dict[str, Any]) -> None:
    assert parse_vllm_args(command_line(container)) == expected


def test_an_option_without_a_usable_value_is_left_unset() -> None:
    assert parse_vllm_args(["--tensor-parallel-size", "two", "--dtype", "--max-num-seqs"]) == {}


def test_values_are_bounded() -> None:
    parsed = parse_vllm_args(["--model", "m" * 10_000])
    assert len(parsed["model"]) == MAX_FINGERPRINT_TEXT


def pod(name: str, node: str, containers: list[dict[str, Any]], image_id: str = "") -> dict[str, Any]:
    statuses = [{"name": c["name"], "imageID": image_id} for c in containers] if image_id else []
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": containers},
        "status": {"phase": "Running", "containerStatuses": statuses},
    }


VLLM = {
    "name": "vllm",
    "image": "vllm/vllm-openai:v0.9.1",
    "args": ["--model", MODEL, "-tp", "2", "--api-key", "sk-secret-123"],
    "resources": {"limits": {"nvidia.com/gpu": 2}},
}
SIDECAR = {"name": "proxy", "image": "envoyproxy/envoy:v1.30", "args": ["-c", "/etc/envoy.yaml"]}


def test_the_serving_container_is_found_among_sidecars() -> None:
    found = serving_container(pod("p", "n", [SIDECAR, VLLM]))
    assert found is not None
    assert found["name"] == "vllm"
    gpu_only = {
        "name": "server",
        "image": "registry.local/llm:1",
        "resources": {"limits": {"nvidia.com/gpu": 1}},
    }
    found = serving_container(pod("p", "n", [SIDECAR, gpu_only]))
    assert found is not None
    assert found["name"] == "server"


def test_pods_with_one_configuration_are_one_entry_and_secrets_never_reach_it() -> None:
    digest = "docker.io/vllm/vllm-openai@sha256:" + "a" * 64
    pods = [
        pod("vllm-1", "node-b", [SIDECAR, VLLM], digest),
        pod("vllm-0", "node-a", [VLLM, SIDECAR], digest),
    ]
    fp = target_fingerprint(pods, "0.9.1")
    assert fp.vllm_version == "0.9.1"
    assert fp.consistent is True
    assert fp.nodes == ["node-a", "node-b"]
    assert fp.serving is not None
    (config,) = fp.serving
    assert config.pods == ["vllm-0", "vllm-1"]
    assert (config.image, config.image_id, config.model, config.tensor_parallel_size) == (
        "vllm/vllm-openai:v0.9.1",
        digest,
        MODEL,
        2,
    )
    assert "sk-secret-123" not in json.dumps(fp.model_dump(mode="json"))


def test_a_rollout_in_progress_is_not_consistent() -> None:
    newer = {**VLLM, "image": "vllm/vllm-openai:v0.10.0"}
    fp = target_fingerprint([pod("vllm-0", "a", [VLLM]), pod("vllm-1", "a", [newer])], None)
    assert fp.consistent is False
    assert fp.serving is not None
    assert [(c.pods, c.image) for c in fp.serving] == [
        (["vllm-0"], "vllm/vllm-openai:v0.9.1"),
        (["vllm-1"], "vllm/vllm-openai:v0.10.0"),
    ]


def test_no_pods_is_an_empty_fingerprint_with_the_version() -> None:
    fp = target_fingerprint([], "0.9.1")
    assert (fp.vllm_version, fp.serving, fp.consistent, fp.nodes) == ("0.9.1", None, None, None)


def test_gpus_complete_the_fingerprint() -> None:
    fp = with_gpus(target_fingerprint([], None), ["NVIDIA L4"], ["550.54.15", "x" * 1000])
    assert fp.gpu_models == ["NVIDIA L4"]
    assert fp.driver_versions is not None
    assert fp.driver_versions[0] == "550.54.15"
    assert len(fp.driver_versions[1]) == MAX_FINGERPRINT_TEXT
    assert with_gpus(None, None, None).gpu_models is None
