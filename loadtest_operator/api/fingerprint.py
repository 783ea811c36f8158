"""`status.fingerprint`: what the target was when it was measured, so a run can be repeated and two runs
compared knowing whether the server changed. Every string is bounded; nothing is copied from a Secret,
and a container's raw arguments are never kept (they may hold `--api-key`): only the vLLM options below,
parsed out of them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from loadtest_operator.api.base import ApiModel

MAX_FINGERPRINT_TEXT = 256  # characters of any one value
MAX_FINGERPRINT_ITEMS = 16  # entries of any list
MAX_SERVING_CONFIGS = 4  # distinct serving configurations: more is no longer one server under test

# A value the operator has cut with bounded(); the schema holds it to the same bound.
Text = Annotated[str, Field(max_length=MAX_FINGERPRINT_TEXT)]


def bounded(value: str | None, limit: int = MAX_FINGERPRINT_TEXT) -> str | None:
    """`value` cut to `limit` characters (None stays None, "" becomes None)."""
    if not value:
        return None
    return value if len(value) <= limit else value[: limit - 1] + "…"


class ServingConfig(ApiModel):
    """The vLLM container of one or more target pods: its image and the options parsed from its command
    and arguments (unset: not given, so vLLM's default applies)."""

    pods: list[Text] = Field(
        max_length=MAX_FINGERPRINT_ITEMS,
        description="Target pods running exactly this configuration (at most 16).",
    )
    container: Text | None = Field(default=None, description="Name of the serving container.")
    image: Text | None = Field(default=None, description="Its image, as the pod spec names it.")
    image_id: Text | None = Field(
        default=None, description="The image the kubelet ran (containerStatuses imageID, a digest)."
    )
    model: Text | None = Field(default=None, description="--model, or the positional model of `vllm serve`.")
    served_model_name: Text | None = Field(default=None, description="--served-model-name.")
    tensor_parallel_size: int | None = Field(default=None, description="--tensor-parallel-size (-tp).")
    pipeline_parallel_size: int | None = Field(default=None, description="--pipeline-parallel-size (-pp).")
    max_num_seqs: int | None = Field(default=None, description="--max-num-seqs.")
    max_model_len: int | None = Field(default=None, description="--max-model-len.")
    dtype: Text | None = Field(default=None, description="--dtype.")
    quantization: Text | None = Field(default=None, description="--quantization (-q).")
    kv_cache_dtype: Text | None = Field(default=None, description="--kv-cache-dtype.")
    enable_prefix_caching: bool | None = Field(
        default=None, description="--enable-prefix-caching (true) or --no-enable-prefix-caching (false)."
    )
    gpu_memory_utilization: Text | None = Field(default=None, description="--gpu-memory-utilization.")


class TargetFingerprint(ApiModel):
    """The server under test as the operator found it: vLLM's version, its pods' configuration, nodes
    and GPUs."""

    vllm_version: Text | None = Field(
        default=None, description="What the target's GET /version answered (absent if it did not)."
    )
    serving: list[ServingConfig] | None = Field(
        default=None,
        max_length=MAX_SERVING_CONFIGS,
        description="The serving containers' configurations, one entry per distinct configuration.",
    )
    consistent: bool | None = Field(
        default=None,
        description="False when the target's pods run different configurations (a rollout in progress): "
        "the figures then mix them.",
    )
    nodes: list[Text] | None = Field(
        default=None, max_length=MAX_FINGERPRINT_ITEMS, description="Nodes of the target pods."
    )
    gpu_models: list[Text] | None = Field(
        default=None,
        max_length=MAX_FINGERPRINT_ITEMS,
        description="GPU products (dcgm-exporter's modelName label).",
    )
    driver_versions: list[Text] | None = Field(
        default=None,
        max_length=MAX_FINGERPRINT_ITEMS,
        description="NVIDIA driver versions (dcgm-exporter's DCGM_FI_DRIVER_VERSION label).",
    )
