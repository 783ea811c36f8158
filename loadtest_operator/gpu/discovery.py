"""Which Prometheus series belong to the target's pods (pure rules over label sets).

dcgm-exporter labels every GPU series with `gpu`, `UUID`, `device`, `modelName`, `Hostname`,
`DCGM_FI_DRIVER_VERSION` and, with Kubernetes pod mapping on, the `namespace`/`pod`/`container` holding
the GPU. Scraped the kube-prometheus way (`honor_labels: false`, the exporter's own target labels
`namespace`/`pod` attached), Prometheus renames the exporter's pod labels to `exported_namespace` /
`exported_pod`. The rules, first match wins:

1. `exported_namespace` + `exported_pod` equal to the target pods'   -> ExportedPodLabels
2. `namespace` + `pod` equal to the target pods' (honor_labels: true) -> PodLabels
3. `Hostname` equal to the target pods' node names                   -> Hostname
   (every GPU of those nodes, also ones other pods hold: dcgm-exporter sets Hostname to the node
   name when the NODE_NAME variable is set, as its Helm chart and the GPU operator do)

vLLM pods are scraped directly, so their series carry the pods' own `namespace`/`pod`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadtest_operator.api.gpu import MatchedBy
from loadtest_operator.gpu.promql import Selector, one_of, selector
from loadtest_operator.gpu.series import GPU_UTIL, VLLM_RUNNING

Labels = Mapping[str, str]


DRIVER_VERSION_LABEL = "DCGM_FI_DRIVER_VERSION"


@dataclass(frozen=True)
class PodRef:
    """A target pod as the reconciler knows it."""

    name: str
    namespace: str
    node: str | None = None


@dataclass(frozen=True)
class DcgmMatch:
    matched_by: MatchedBy
    selector: Selector | None  # None when nothing matched
    tried: tuple[str, ...]  # every selector tried, in order (rendered, for status and logs)
    gpu_models: tuple[str, ...]
    gpu_uuids: tuple[str, ...]
    driver_versions: tuple[str, ...] = ()  # dcgm-exporter's DCGM_FI_DRIVER_VERSION label


@dataclass(frozen=True)
class VllmMatch:
    selector: Selector
    pods: tuple[str, ...]  # target pods that have vLLM series
    model_names: tuple[str, ...]


def dcgm_candidates(pods: Sequence[PodRef]) -> list[tuple[MatchedBy, Selector]]:
    """The selectors of rules 1-3 for these pods, in the order they are tried."""
    if not pods:
        return []
    namespaces = [p.namespace for p in pods]
    names = [p.name for p in pods]
    candidates = [
        (MatchedBy.EXPORTED_POD_LABELS, selector(one_of("exported_namespace", namespaces), one_of("exported_pod", names))),
        (MatchedBy.POD_LABELS, selector(one_of("namespace", namespaces), one_of("pod", names))),
    ]  # fmt: skip
    nodes = [p.node for p in pods if p.node]
    if nodes:
        candidates.append((MatchedBy.HOSTNAME, selector(one_of("Hostname", nodes))))
    return candidates


def dcgm_series_matches(pods: Sequence[PodRef]) -> list[str]:
    """`match[]` arguments for /api/v1/series: the union of the candidates, so a large cluster's other
    GPUs are never listed."""
    return [sel.of(GPU_UTIL) for _, sel in dcgm_candidates(pods)]


def discover_dcgm(pods: Sequence[PodRef], series: Sequence[Labels]) -> DcgmMatch:
    """Pick the first rule whose selector matches any of the `DCGM_FI_DEV_GPU_UTIL` label sets."""
    candidates = dcgm_candidates(pods)
    tried = tuple(sel.of(GPU_UTIL) for _, sel in candidates)
    gpu_series = [s for s in series if s.get("__name__", GPU_UTIL) == GPU_UTIL]
    for matched_by, sel in candidates:
        matched = [s for s in gpu_series if sel.matches(s)]
        if matched:
            return DcgmMatch(
                matched_by=matched_by,
                selector=sel,
                tried=tried,
                gpu_models=tuple(sorted({s["modelName"] for s in matched if s.get("modelName")})),
                gpu_uuids=tuple(sorted({gpu_identity(s) for s in matched})),
                driver_versions=tuple(sorted({v for s in matched if (v := s.get(DRIVER_VERSION_LABEL))})),
            )
    return DcgmMatch(MatchedBy.NONE, None, tried, (), ())


def gpu_identity(labels: Labels) -> str:
    # UUID names the physical GPU; the same GPU scraped by two jobs is still one GPU.
    return labels.get("UUID") or f"{labels.get('Hostname', '')}/gpu{labels.get('gpu', '')}"


def vllm_selector(pods: Sequence[PodRef]) -> Selector:
    if not pods:
        raise ValueError("no target pods")
    return selector(one_of("namespace", [p.namespace for p in pods]), one_of("pod", [p.name for p in pods]))


def discover_vllm(pods: Sequence[PodRef], series: Sequence[Labels]) -> VllmMatch | None:
    """The target pods that export `vllm:num_requests_running`, or None when none does."""
    if not pods:
        return None
    sel = vllm_selector(pods)
    matched = [s for s in series if s.get("__name__", VLLM_RUNNING) == VLLM_RUNNING and sel.matches(s)]
    if not matched:
        return None
    return VllmMatch(
        selector=sel,
        pods=tuple(sorted({s["pod"] for s in matched})),
        model_names=tuple(sorted({s["model_name"] for s in matched if s.get("model_name")})),
    )
