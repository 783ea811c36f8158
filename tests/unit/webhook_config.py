"""A ValidatingWebhookConfiguration as the chart renders it, for tests of who was reviewed (core/reviewed.py)."""

from __future__ import annotations

from typing import Any

NAME = "llmload-ops-0a1b2c3d"
INSTALLED = "2026-01-01T00:00:00Z"  # long before the objects of the tests


def configuration(
    *,
    name: str = NAME,
    created: str = INSTALLED,
    failure_policy: str = "Fail",
    namespaces: list[str] | None = None,
    object_selector: dict[str, Any] | None = None,
    plurals: tuple[str, ...] = ("loadtests", "capacityrecommendations"),
) -> dict[str, Any]:
    def hook(plural: str) -> dict[str, Any]:
        hook: dict[str, Any] = {
            "name": f"validate-{plural}.llmload.io",
            "failurePolicy": failure_policy,
            "rules": [
                {
                    "apiGroups": ["llmload.io"],
                    "apiVersions": ["v1alpha1"],
                    "resources": [plural],
                    "operations": ["CREATE", "UPDATE"],
                    "scope": "Namespaced",
                }
            ],
        }
        if namespaces is not None:
            hook["namespaceSelector"] = {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
                ]
            }
        if object_selector is not None:
            hook["objectSelector"] = object_selector
        return hook

    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "creationTimestamp": created},
        "webhooks": [hook(p) for p in plurals],
    }
