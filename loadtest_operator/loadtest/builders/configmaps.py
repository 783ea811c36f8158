"""ConfigMaps of a run: the run config handed to every shard, and one result ConfigMap per shard."""

from typing import Any

from loadtest_operator.core.owner import Owner, object_metadata
from loadtest_operator.loadtest.builders.labels import COMPONENT_RESULT, COMPONENT_RUN_CONFIG, run_labels
from loadtest_operator.loadtest.builders.names import run_names

RUN_CONFIG_KEY = "run-config.json"
# The spec the run started with (the operator follows the run by it, whatever edits come later).
RUN_SPEC_KEY = "spec.json"
RUN_CONFIG_MOUNT_DIR = "/etc/llmload"
RUN_CONFIG_PATH = f"{RUN_CONFIG_MOUNT_DIR}/{RUN_CONFIG_KEY}"
# The API server refuses objects above 1 MiB; leave room for metadata.
MAX_RUN_CONFIG_BYTES = 1_000_000


class RunConfigTooLargeError(ValueError):
    """The serialised run config does not fit in a ConfigMap."""


def build_run_config_config_map(
    owner: Owner, run_id: int, run_config_json: str, spec_json: str = ""
) -> dict[str, Any]:
    """The ConfigMap mounted into every shard at RUN_CONFIG_PATH.

    `run_config_json` is loadgen's run config, already serialised by the caller, so this builder does not
    depend on loadgen's schema.
    """
    size = len(run_config_json.encode()) + len(spec_json.encode())
    if size > MAX_RUN_CONFIG_BYTES:
        raise RunConfigTooLargeError(
            f"run config is {size} bytes, more than the {MAX_RUN_CONFIG_BYTES} a ConfigMap can hold"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(
            owner, run_names(owner, run_id).run_config_map, run_labels(owner, run_id, COMPONENT_RUN_CONFIG)
        ),
        "data": {RUN_CONFIG_KEY: run_config_json, **({RUN_SPEC_KEY: spec_json} if spec_json else {})},
    }


def build_result_config_map(owner: Owner, run_id: int, shard_index: int) -> dict[str, Any]:
    """The empty ConfigMap shard `shard_index` writes its progress and result into.

    The operator creates it up front because the shard's Role can only get/update/patch ConfigMaps by
    name, and RBAC cannot restrict `create` by resourceNames.
    """
    name = run_names(owner, run_id).result_config_map(shard_index)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(owner, name, run_labels(owner, run_id, COMPONENT_RESULT, shard_index)),
        "data": {},
    }
