"""The ServiceAccount, Role and RoleBinding of a run's shards: they may write their own result
ConfigMaps, nothing else."""

from typing import Any

from loadtest_operator.core.owner import Owner, object_metadata
from loadtest_operator.loadtest.builders.labels import COMPONENT_LOADGEN, run_labels
from loadtest_operator.loadtest.builders.names import run_names

RESULT_VERBS = ("get", "update", "patch")


def build_service_account(owner: Owner, run_id: int) -> dict[str, Any]:
    name = run_names(owner, run_id).service_account
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_metadata(owner, name, run_labels(owner, run_id, COMPONENT_LOADGEN)),
    }


def build_role(owner: Owner, run_id: int, shard_count: int) -> dict[str, Any]:
    """Only get/update/patch, only on this run's result ConfigMaps (the operator pre-creates them)."""
    names = run_names(owner, run_id)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": object_metadata(owner, names.role, run_labels(owner, run_id, COMPONENT_LOADGEN)),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": names.result_config_maps(shard_count),
                "verbs": list(RESULT_VERBS),
            }
        ],
    }


def build_role_binding(owner: Owner, run_id: int) -> dict[str, Any]:
    names = run_names(owner, run_id)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": object_metadata(owner, names.role_binding, run_labels(owner, run_id, COMPONENT_LOADGEN)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": names.role},
        "subjects": [{"kind": "ServiceAccount", "name": names.service_account, "namespace": owner.namespace}],
    }
