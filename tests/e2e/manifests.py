"""Small manifest builders for the e2e tests (the product's own builders live in the operator)."""

from __future__ import annotations

from typing import Any

RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def container(name: str, image: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **extra,
    }


def job(
    name: str,
    image: str,
    command: list[str],
    service_account: str | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container("main", image, command)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 2,
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    metadata: dict[str, Any] = {"name": name}
    if owner:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 120, "template": {"spec": pod_spec}},
    }


def scrape_annotations(port: int) -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)}


def dcgm_exporter_pod(name: str, image: str, node: str, gpu_pod: dict[str, Any]) -> dict[str, Any]:
    """The DCGM stand-in (`llmload-mock dcgm`; `image`: the mock image, `Cluster.mock_image`), mapping GPU 0
    to `gpu_pod` as dcgm-exporter's pod mapping would, with power and utilisation following the vLLM pod's
    running requests."""
    meta, status = gpu_pod["metadata"], gpu_pod["status"]
    container_name = gpu_pod["spec"]["containers"][0]["name"]
    exporter = container(
        "dcgm-exporter",
        image,
        [
            "llmload-mock", "dcgm", "--host", "0.0.0.0", "--port", "9400", "--gpus", "1",
            "--hostname", node, "--model-name", "NVIDIA A100-SXM4-80GB",
            "--pod", f"0={meta['namespace']}/{meta['name']}/{container_name}",
            "--load-url", f"http://{status['podIP']}:8000/metrics", "--poll-interval", "0.5",
            "--profiling",  # the DCP series too, as dcgm-exporter with dcp-metrics-included.csv
        ],
        ports=[{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}],
    )  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "dcgm-exporter"},
                     "annotations": scrape_annotations(9400)},
        "spec": {"containers": [exporter], "volumes": [{"name": "tmp", "emptyDir": {}}],
                 "terminationGracePeriodSeconds": 1},
    }  # fmt: skip


def mock_vllm_deployment(
    name: str, image: str, gpus: int = 0, args: list[str] | None = None
) -> dict[str, Any]:
    """The mock vLLM server (`llmload-mock openai`; `image`: the mock image, `Cluster.mock_image`)."""
    labels = {"app.kubernetes.io/name": "mock-vllm", "app.kubernetes.io/instance": name}
    resources: dict[str, Any] = {"requests": {"cpu": "50m", "memory": "64Mi"}}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    serve = container(
        "vllm",
        image,
        ["llmload-mock", "openai", "--host", "0.0.0.0", "--port", "8000", *(args or [])],
        ports=[{"name": "http", "containerPort": 8000}],
        readinessProbe={"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 1},
        resources=resources,
    )
    pod_spec = {
        "containers": [serve],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 2,
    }
    # Scraped by the local node's Prometheus, as kube-prometheus would scrape a vLLM pod.
    return deployment(name, labels, pod_spec, scrape_annotations(8000))


def deployment(
    name: str, labels: dict[str, str], pod_spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """One replica of `pod_spec`, selected by `labels`; `annotations` go on the pod."""
    template_meta: dict[str, Any] = {"labels": labels}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def service(name: str, selector: dict[str, str], port: int = 8000) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": port}]},
    }
