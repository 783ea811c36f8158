"""The shard Job builder, table-tested in the style of k6-operator's runner_test.go: one full expected
object for the common case, then rows that each change one input and check what it changes."""

from typing import Any

import pytest

from loadtest_operator.loadtest.builders.job import ShardJobInputs, build_shard_job, loadgen_args
from loadtest_operator.loadtest.builders.names import run_token
from tests.unit.operator.specs import DELETE, OWNER, make_spec

IMAGE = "localhost/llmload/llmload:dev"
SELECTOR = {"app": "vllm"}
INPUTS = ShardJobInputs(default_image=IMAGE, target_selector=SELECTOR)
TOKEN = run_token(OWNER.uid, 0)
PREFIX = f"llama-sweep-{TOKEN}"


def expected_job() -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": "llmload-loadgen",
        "app.kubernetes.io/instance": "llama-sweep",
        "app.kubernetes.io/managed-by": "llmload-operator",
        "app.kubernetes.io/component": "loadgen",
        "llmload.io/loadtest": "llama-sweep",
        "llmload.io/loadtest-uid": OWNER.uid,
        "llmload.io/run-id": "0",
        "llmload.io/shard": "1",
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{PREFIX}-shard-1",
            "namespace": "bench",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "llmload.io/v1alpha1",
                    "kind": "LoadTest",
                    "name": "llama-sweep",
                    "uid": OWNER.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            # 300 startup + ceil(200/4)*60 + ceil(200/8)*60 + ceil(200/16)*60 + 15 per level for the barrier
            "activeDeadlineSeconds": 300 + 50 * 60 + 25 * 60 + 13 * 60 + 3 * 15,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": f"{PREFIX}-loadgen",
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "affinity": {
                        "podAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": SELECTOR},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": "loadgen",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["loadgen"],
                            "args": [
                                "run",
                                "--config",
                                "/etc/llmload/run-config.json",
                                "--shard-index",
                                "1",
                                "--shard-count",
                                "2",
                                "--report-configmap",
                                f"{PREFIX}-result-1",
                                # two shards: each level starts on the operator's signal, waited for at
                                # most the operator's barrier timeout + the request timeout + 60 s
                                "--start-barrier",
                                "--start-barrier-timeout-seconds",
                                "420",
                            ],
                            "env": [
                                {
                                    "name": "LLMLOAD_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                                {
                                    "name": "LLMLOAD_POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": "1", "memory": "512Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {
                                    "name": "run-config",
                                    "mountPath": "/etc/llmload/run-config.json",
                                    "subPath": "run-config.json",
                                    "readOnly": True,
                                },
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "run-config",
                            "configMap": {
                                "name": f"{PREFIX}-config",
                                "items": [{"key": "run-config.json", "path": "run-config.json"}],
                            },
                        },
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def test_full_job_for_the_common_case() -> None:
    assert build_shard_job(OWNER, make_spec(), 1, INPUTS) == expected_job()


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = job["spec"]["template"]["spec"]
    return result


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(job)["containers"]
    result: dict[str, Any] = only
    return result


DATASET = {"workload": {"inputTokens": DELETE, "datasetConfigMapRef": {"name": "sharegpt", "key": "v3.json"}}}
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

# (id, spec patch, inputs, path into the Job, expected value at that path)
CASES: list[tuple[str, dict[str, Any], ShardJobInputs, tuple[Any, ...], Any]] = [
    (
        "SameZone uses the zone topology key",
        {"loadGenerator": {"placement": "SameZone"}},
        INPUTS,
        (
            "spec",
            "template",
            "spec",
            "affinity",
            "podAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            0,
            "topologyKey",
        ),
        "topology.kubernetes.io/zone",
    ),
    (
        "Anywhere has no affinity",
        {"loadGenerator": {"placement": "Anywhere"}},
        INPUTS,
        ("spec", "template", "spec", "affinity"),
        None,
    ),
    (
        "url target defaults to Anywhere",
        {"target": {"serviceRef": DELETE, "url": "http://10.0.0.1:8000"}},
        ShardJobInputs(default_image=IMAGE),
        ("spec", "template", "spec", "affinity"),
        None,
    ),
    (
        "image override",
        {"loadGenerator": {"image": "registry.local/loadgen:1.2"}},
        INPUTS,
        ("spec", "template", "spec", "containers", 0, "image"),
        "registry.local/loadgen:1.2",
    ),
    (
        "resources from the spec replace the defaults; without limits, the default memory limit",
        {"loadGenerator": {"resources": {"requests": {"cpu": 2}}}},
        INPUTS,
        ("spec", "template", "spec", "containers", 0, "resources"),
        {"requests": {"cpu": 2}, "limits": {"memory": "1Gi"}},
    ),
    (
        "a memory request without a limit is its own limit (never a request above its limit)",
        {"loadGenerator": {"resources": {"requests": {"memory": "4Gi"}}}},
        INPUTS,
        ("spec", "template", "spec", "containers", 0, "resources"),
        {"requests": {"memory": "4Gi"}, "limits": {"memory": "4Gi"}},
    ),
    (
        "API key from a Secret, never inline",
        {"target": {"apiKeySecretRef": {"name": "openai", "key": "token"}}},
        INPUTS,
        ("spec", "template", "spec", "containers", 0, "env", 2),
        {"name": "LLMLOAD_API_KEY", "valueFrom": {"secretKeyRef": {"name": "openai", "key": "token"}}},
    ),
    (
        "target tolerations copied next to the target",
        {},
        ShardJobInputs(default_image=IMAGE, target_selector=SELECTOR, target_tolerations=[TOLERATION]),
        ("spec", "template", "spec", "tolerations"),
        [TOLERATION],
    ),
    (
        "tolerations not copied for Anywhere",
        {"loadGenerator": {"placement": "Anywhere"}},
        ShardJobInputs(default_image=IMAGE, target_selector=SELECTOR, target_tolerations=[TOLERATION]),
        ("spec", "template", "spec", "tolerations"),
        None,
    ),
    (
        "dataset ConfigMap volume",
        DATASET,
        INPUTS,
        ("spec", "template", "spec", "volumes", 2),
        {
            "name": "dataset",
            "configMap": {"name": "sharegpt", "items": [{"key": "v3.json", "path": "v3.json"}]},
        },
    ),
    (
        "dataset mounted beside the run config",
        DATASET,
        INPUTS,
        ("spec", "template", "spec", "containers", 0, "volumeMounts", 2),
        {"name": "dataset", "mountPath": "/etc/llmload/dataset", "readOnly": True},
    ),
    (
        "explicit deadline wins",
        {"loadGenerator": {"deadlineSeconds": 900}},
        INPUTS,
        ("spec", "activeDeadlineSeconds"),
        900,
    ),
    (
        "runId bump renames the Job",
        {"runId": 7},
        INPUTS,
        ("metadata", "name"),
        f"llama-sweep-{run_token(OWNER.uid, 7)}-shard-1",
    ),
    (
        "runId in the labels",
        {"runId": 7},
        INPUTS,
        ("metadata", "labels", "llmload.io/run-id"),
        "7",
    ),
    (
        "custom user id",
        {},
        ShardJobInputs(default_image=IMAGE, target_selector=SELECTOR, run_as_user=4242),
        ("spec", "template", "spec", "securityContext", "runAsUser"),
        4242,
    ),
]


def dig(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if isinstance(obj, dict):
            if step not in obj:
                return None
            obj = obj[step]
        else:
            obj = obj[step]
    return obj


@pytest.mark.parametrize(
    ("patch", "inputs", "path", "value"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_job_variants(
    patch: dict[str, Any], inputs: ShardJobInputs, path: tuple[Any, ...], value: Any
) -> None:
    assert dig(build_shard_job(OWNER, make_spec(patch), 1, inputs), path) == value


def test_invariants_hold_for_every_shard() -> None:
    spec = make_spec({"loadGenerator": {"parallelism": 4}})
    jobs = [build_shard_job(OWNER, spec, i, INPUTS) for i in range(4)]
    assert len({job["metadata"]["name"] for job in jobs}) == 4
    for i, job in enumerate(jobs):
        assert job["spec"]["backoffLimit"] == 0
        assert pod_spec(job)["restartPolicy"] == "Never"
        assert job["metadata"]["labels"]["llmload.io/shard"] == str(i)
        assert container(job)["args"][3:5] == ["--shard-index", str(i)]
        assert container(job)["args"][5:7] == ["--shard-count", "4"]


def test_same_inputs_build_the_same_job() -> None:
    # Determinism is what lets a restarted operator find (409) its own Jobs.
    assert build_shard_job(OWNER, make_spec(), 0, INPUTS) == build_shard_job(OWNER, make_spec(), 0, INPUTS)


@pytest.mark.parametrize("index", [-1, 2])
def test_shard_index_out_of_range(index: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        build_shard_job(OWNER, make_spec(), index, INPUTS)


def test_same_node_without_target_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the target pods' labels"):
        build_shard_job(OWNER, make_spec(), 0, ShardJobInputs(default_image=IMAGE))


def test_loadgen_args() -> None:
    assert loadgen_args(0, 1, "cm") == [
        "run",
        "--config",
        "/etc/llmload/run-config.json",
        "--shard-index",
        "0",
        "--shard-count",
        "1",
        "--report-configmap",
        "cm",
    ]
