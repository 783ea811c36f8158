"""The Job of one load-generator shard."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest_operator.api import LoadTestSpec, Placement
from loadtest_operator.core.owner import Owner, object_metadata
from loadtest_operator.loadtest.builders.affinity import placement_affinity
from loadtest_operator.loadtest.builders.configmaps import RUN_CONFIG_KEY, RUN_CONFIG_PATH
from loadtest_operator.loadtest.builders.deadline import shard_deadline_seconds
from loadtest_operator.loadtest.builders.labels import COMPONENT_LOADGEN, run_labels
from loadtest_operator.loadtest.builders.names import run_names
from loadtest_operator.loadtest.target import effective_placement

CONTAINER_NAME = "loadgen"
# A dataset ConfigMap key is mounted as DATASET_MOUNT_DIR/<key>.
DATASET_MOUNT_DIR = "/etc/llmload/dataset"
# Environment variables the loadgen container reads (agreed with loadgen/).
API_KEY_ENV = "LLMLOAD_API_KEY"
NAMESPACE_ENV = "LLMLOAD_NAMESPACE"
POD_NAME_ENV = "LLMLOAD_POD_NAME"
# The image's non-root user; pods must name it numerically for runAsNonRoot to be verifiable.
DEFAULT_RUN_AS_USER = 10001
DEFAULT_RESOURCES: Mapping[str, Mapping[str, int | str]] = {
    "requests": {"cpu": "1", "memory": "512Mi"},
    "limits": {"memory": "1Gi"},
}


@dataclass(frozen=True, slots=True)
class ShardJobInputs:
    """What a shard Job needs beyond the spec: operator settings and facts about the target."""

    default_image: str
    # The target Service's selector; required for SameNode and SameZone placement.
    target_selector: Mapping[str, str] = field(default_factory=dict)
    # Tolerations of the target pods, copied for SameNode/SameZone so that load generators can join the
    # target on tainted GPU nodes (nvidia.com/gpu:NoSchedule is common).
    target_tolerations: Sequence[Mapping[str, Any]] = ()
    # How long the operator lets shards wait for each other at a level's start (its barrier timeout).
    barrier_timeout_seconds: float = 300.0
    run_as_user: int = DEFAULT_RUN_AS_USER
    default_resources: Mapping[str, Mapping[str, int | str]] = field(
        default_factory=lambda: DEFAULT_RESOURCES
    )


# A shard waits this much longer for its start signal than the operator does for the shards, so the
# operator's reason (ShardsNotReady, naming the shards) is the one the run ends with.
SHARD_BARRIER_MARGIN_SECONDS = 60


def loadgen_args(
    shard_index: int, shard_count: int, report_config_map: str, barrier_timeout_seconds: float | None = None
) -> list[str]:
    """Arguments of `loadgen` inside shard `shard_index`; with several shards, each level waits for the
    operator's start signal (loadgen --start-barrier), for at most `barrier_timeout_seconds`."""
    barrier = (
        ["--start-barrier", "--start-barrier-timeout-seconds", f"{barrier_timeout_seconds:g}"]
        if shard_count > 1 and barrier_timeout_seconds is not None
        else []
    )
    return [
        "run",
        "--config",
        RUN_CONFIG_PATH,
        "--shard-index",
        str(shard_index),
        "--shard-count",
        str(shard_count),
        "--report-configmap",
        report_config_map,
        *barrier,
    ]


def build_shard_job(
    owner: Owner, spec: LoadTestSpec, shard_index: int, inputs: ShardJobInputs
) -> dict[str, Any]:
    """The Job running shard `shard_index` of `spec`'s current run (spec.runId)."""
    shard_count = spec.load_generator.parallelism
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard index {shard_index} outside 0..{shard_count - 1}")
    run_id = spec.run_id
    names = run_names(owner, run_id)
    labels = run_labels(owner, run_id, COMPONENT_LOADGEN, shard_index)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_metadata(owner, names.job(shard_index), labels),
        "spec": {
            # A failed shard is reported, never retried: a retry would double-count requests already
            # sent and skew the level it failed in.
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            "activeDeadlineSeconds": shard_deadline_seconds(spec),
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(
                    spec,
                    shard_index,
                    inputs,
                    names.service_account,
                    names.run_config_map,
                    names.result_config_map(shard_index),
                ),
            },
        },
    }


def _pod_spec(
    spec: LoadTestSpec,
    shard_index: int,
    inputs: ShardJobInputs,
    service_account: str,
    run_config_map: str,
    result_config_map: str,
) -> dict[str, Any]:
    placement = effective_placement(spec)
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": service_account,
        # The shard writes its result through the API with this token.
        "automountServiceAccountToken": True,
        # Service environment variables are useless here and grow with the namespace.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": inputs.run_as_user,
            "runAsGroup": inputs.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(spec, shard_index, inputs, result_config_map)],
        "volumes": _volumes(spec, run_config_map),
    }
    affinity = placement_affinity(placement, inputs.target_selector)
    if affinity is not None:
        pod["affinity"] = affinity
    if placement is not Placement.ANYWHERE and inputs.target_tolerations:
        pod["tolerations"] = [dict(t) for t in inputs.target_tolerations]
    return pod


def _volumes(spec: LoadTestSpec, run_config_map: str) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {
            "name": "run-config",
            "configMap": {"name": run_config_map, "items": [{"key": RUN_CONFIG_KEY, "path": RUN_CONFIG_KEY}]},
        },
        # The root filesystem is read-only; Python and aiohttp still want a writable /tmp.
        {"name": "tmp", "emptyDir": {}},
    ]
    dataset = spec.workload.dataset_config_map_ref
    if dataset is not None:
        items = [{"key": dataset.key, "path": dataset.key}]
        volumes.append({"name": "dataset", "configMap": {"name": dataset.name, "items": items}})
    return volumes


def _volume_mounts(spec: LoadTestSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        # subPath mounts the one file, so /etc/llmload stays a plain directory of the image and the dataset
        # can be mounted beside it (a mount nested inside a read-only ConfigMap volume would fail).
        {"name": "run-config", "mountPath": RUN_CONFIG_PATH, "subPath": RUN_CONFIG_KEY, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.workload.dataset_config_map_ref is not None:
        mounts.append({"name": "dataset", "mountPath": DATASET_MOUNT_DIR, "readOnly": True})
    return mounts


def _container(
    spec: LoadTestSpec, shard_index: int, inputs: ShardJobInputs, result_config_map: str
) -> dict[str, Any]:
    generator = spec.load_generator
    env: list[dict[str, Any]] = [
        {"name": NAMESPACE_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    key_ref = spec.target.api_key_secret_ref
    if key_ref is not None:
        env.append(
            {"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": key_ref.name, "key": key_ref.key}}}
        )
    return {
        "name": CONTAINER_NAME,
        "image": generator.image or inputs.default_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["loadgen"],
        "args": loadgen_args(
            shard_index,
            generator.parallelism,
            result_config_map,
            inputs.barrier_timeout_seconds + spec.load.timeout_seconds + SHARD_BARRIER_MARGIN_SECONDS,
        ),
        "env": env,
        "resources": _resources(spec, inputs),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": _volume_mounts(spec),
    }


def _resources(spec: LoadTestSpec, inputs: ShardJobInputs) -> dict[str, dict[str, int | str]]:
    resources = spec.load_generator.resources
    if resources is None:
        return {kind: dict(values) for kind, values in inputs.default_resources.items()}
    out: dict[str, dict[str, int | str]] = {}
    if resources.requests:
        out["requests"] = dict(resources.requests)
    if resources.limits:
        out["limits"] = dict(resources.limits)
    else:
        # Every shard pod has a memory limit (the node is shared with the target): the request's, else the
        # default.
        memory = (resources.requests or {}).get("memory") or inputs.default_resources["limits"]["memory"]
        out["limits"] = {"memory": memory}
    return out
