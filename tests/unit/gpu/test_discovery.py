"""Discovery rules over label sets as Prometheus returns them from /api/v1/series."""

from __future__ import annotations

import pytest

from loadtest_operator.api.gpu import MatchedBy
from loadtest_operator.gpu.discovery import (
    PodRef,
    dcgm_series_matches,
    discover_dcgm,
    discover_vllm,
)

PODS = [PodRef("vllm-0", "llm", "node-a"), PodRef("vllm-1", "llm", "node-b")]
EXPORTER = {"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-x1", "job": "nvidia-dcgm-exporter"}


def gpu(
    uuid: str, host: str = "node-a", model: str = "NVIDIA H100 80GB HBM3", **labels: str
) -> dict[str, str]:
    base = {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": uuid[-1], "UUID": uuid, "device": f"nvidia{uuid[-1]}",
            "modelName": model, "Hostname": host, "DCGM_FI_DRIVER_VERSION": "550.54.15"}  # fmt: skip
    return base | labels


def kube_prometheus(uuid: str, pod: str | None, host: str = "node-a") -> dict[str, str]:
    """honor_labels: false: the exporter's own target labels win, its pod labels become exported_*."""
    mapped = {"exported_namespace": "llm", "exported_pod": pod, "exported_container": "vllm"} if pod else {}
    return gpu(uuid, host, **EXPORTER, **mapped)


def honoured(uuid: str, pod: str | None, host: str = "node-a") -> dict[str, str]:
    """honor_labels: true: the exporter's pod labels keep their names."""
    mapped = {"namespace": "llm", "pod": pod, "container": "vllm"} if pod else {}
    return gpu(uuid, host, **mapped)


@pytest.mark.parametrize(
    ("series", "matched_by", "query", "uuids"),
    [
        pytest.param(
            [
                kube_prometheus("GPU-0", "vllm-0"),
                kube_prometheus("GPU-1", "other"),
                kube_prometheus("GPU-2", None),
            ],
            MatchedBy.EXPORTED_POD_LABELS,
            '{exported_namespace="llm",exported_pod=~"vllm-0|vllm-1"}',
            ("GPU-0",),
            id="exported-spelling-only-the-target-pods-gpus",
        ),
        pytest.param(
            [honoured("GPU-0", "vllm-0"), honoured("GPU-3", "vllm-1", "node-b"), honoured("GPU-1", "other")],
            MatchedBy.POD_LABELS,
            '{namespace="llm",pod=~"vllm-0|vllm-1"}',
            ("GPU-0", "GPU-3"),
            id="honoured-pod-labels",
        ),
        pytest.param(
            [
                kube_prometheus("GPU-0", None),
                kube_prometheus("GPU-1", None),
                kube_prometheus("GPU-9", None, "node-z"),
            ],
            MatchedBy.HOSTNAME,
            '{Hostname=~"node-a|node-b"}',
            ("GPU-0", "GPU-1"),
            id="no-pod-mapping-falls-back-to-the-nodes",
        ),
        pytest.param(
            [kube_prometheus("GPU-0", "vllm-0"), honoured("GPU-5", "vllm-1", "node-b")],
            MatchedBy.EXPORTED_POD_LABELS,
            '{exported_namespace="llm",exported_pod=~"vllm-0|vllm-1"}',
            ("GPU-0",),
            id="exported-spelling-wins-over-later-rules",
        ),
        pytest.param(
            # The same GPU scraped by two jobs is one GPU.
            [kube_prometheus("GPU-0", "vllm-0"), kube_prometheus("GPU-0", "vllm-0") | {"job": "second"}],
            MatchedBy.EXPORTED_POD_LABELS,
            '{exported_namespace="llm",exported_pod=~"vllm-0|vllm-1"}',
            ("GPU-0",),
            id="gpus-counted-by-uuid",
        ),
    ],
)
def test_rules_in_order(
    series: list[dict[str, str]], matched_by: MatchedBy, query: str, uuids: tuple[str, ...]
) -> None:
    match = discover_dcgm(PODS, series)
    assert match.matched_by is matched_by
    assert match.selector is not None
    assert match.selector.render() == query
    assert match.gpu_uuids == uuids
    assert match.gpu_models == ("NVIDIA H100 80GB HBM3",)


def test_the_exporters_own_pod_labels_are_not_the_target_pods() -> None:
    # Scraped the kube-prometheus way without pod mapping, `pod` is the exporter's own pod: no PodLabels
    # match, and the hostname rule takes over.
    series = [kube_prometheus("GPU-0", None)]
    assert discover_dcgm(
        [PodRef("nvidia-dcgm-exporter-x2", "gpu-operator", "node-a")], series
    ).matched_by is (MatchedBy.HOSTNAME)


def test_no_match_reports_every_selector_tried() -> None:
    match = discover_dcgm(PODS, [kube_prometheus("GPU-0", "other", "node-z")])
    assert match.matched_by is MatchedBy.NONE
    assert match.selector is None
    assert match.gpu_uuids == ()
    assert match.tried == (
        'DCGM_FI_DEV_GPU_UTIL{exported_namespace="llm",exported_pod=~"vllm-0|vllm-1"}',
        'DCGM_FI_DEV_GPU_UTIL{namespace="llm",pod=~"vllm-0|vllm-1"}',
        'DCGM_FI_DEV_GPU_UTIL{Hostname=~"node-a|node-b"}',
    )


def test_pods_without_nodes_have_no_hostname_rule() -> None:
    pods = [PodRef("vllm-0", "llm")]
    assert len(dcgm_series_matches(pods)) == 2
    assert discover_dcgm(pods, [kube_prometheus("GPU-0", None)]).matched_by is MatchedBy.NONE


def test_no_pods_no_candidates() -> None:
    assert dcgm_series_matches([]) == []
    assert discover_dcgm([], [kube_prometheus("GPU-0", "vllm-0")]).matched_by is MatchedBy.NONE


def test_other_metrics_in_the_series_list_are_ignored() -> None:
    power = kube_prometheus("GPU-0", "vllm-0") | {"__name__": "DCGM_FI_DEV_POWER_USAGE"}
    assert discover_dcgm(PODS, [power]).matched_by is MatchedBy.NONE


def test_several_gpu_models_are_listed_once_each() -> None:
    series = [honoured("GPU-0", "vllm-0"), gpu("GPU-1", "node-b", "NVIDIA L4", namespace="llm", pod="vllm-1")]
    assert discover_dcgm(PODS, series).gpu_models == ("NVIDIA H100 80GB HBM3", "NVIDIA L4")


def vllm_series(pod: str, model: str = "meta-llama/Llama-3.1-8B-Instruct") -> dict[str, str]:
    return {"__name__": "vllm:num_requests_running", "namespace": "llm", "pod": pod, "engine": "0",
            "model_name": model}  # fmt: skip


def test_vllm_series_of_the_target_pods() -> None:
    match = discover_vllm(PODS, [vllm_series("vllm-1"), vllm_series("vllm-0"), vllm_series("elsewhere")])
    assert match is not None
    assert match.pods == ("vllm-0", "vllm-1")
    assert match.model_names == ("meta-llama/Llama-3.1-8B-Instruct",)
    assert match.selector.render() == '{namespace="llm",pod=~"vllm-0|vllm-1"}'


def test_no_vllm_series_is_none() -> None:
    assert discover_vllm(PODS, [vllm_series("elsewhere"), kube_prometheus("GPU-0", "vllm-0")]) is None
    assert discover_vllm([], [vllm_series("vllm-0")]) is None
