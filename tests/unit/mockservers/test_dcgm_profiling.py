"""The stand-in's profiling (DCP) series: dcgm-exporter's names, types and HELP texts as
etc/dcp-metrics-included.csv declares them, the same label set as every other series, values following the
load."""

from __future__ import annotations

import re

from mockservers.dcgm import Exporter, GpuIdentity, GpuScript, PolledLoad

# (name, type, HELP) copied from NVIDIA/dcgm-exporter etc/dcp-metrics-included.csv.
DCP = [
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_SM_ACTIVE", "gauge", "The ratio of cycles an SM has at least 1 warp assigned."),
    ("DCGM_FI_PROF_SM_OCCUPANCY", "gauge", "The ratio of number of warps resident on an SM."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads "
        "- in bytes per second.",
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus - including both protocol headers and data payloads - "
        "in bytes per second.",
    ),
]
LABELS = (
    'gpu="0",UUID="GPU-0",device="nvidia0",modelName="NVIDIA L4",Hostname="node-a",'
    'DCGM_FI_DRIVER_VERSION="550.54.15",container="vllm",namespace="llm",pod="vllm-0"'
)


def render(load: float) -> str:
    gpu = GpuIdentity(0, "GPU-0", ("llm", "vllm-0", "vllm"))
    return Exporter([gpu], "node-a", "NVIDIA L4", "550.54.15", GpuScript(), PolledLoad(load), True).render()


def sample(text: str, metric: str) -> float:
    match = re.search(rf"^{metric}\{{{re.escape(LABELS)}\}} (\S+)$", text, re.MULTILINE)
    assert match is not None, metric
    return float(match.group(1))


def test_every_dcp_series_has_dcgm_exporters_name_type_help_and_labels() -> None:
    text = render(2)
    for name, kind, doc in DCP:
        assert f"# HELP {name} {doc}\n# TYPE {name} {kind}\n" in text, name
        assert sample(text, name) >= 0


def test_dcp_series_follow_the_load() -> None:
    idle, busy = render(0), render(4)
    for name, _, _ in DCP:
        assert sample(busy, name) > sample(idle, name), name
    for name in ("DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_PROF_PCIE_RX_BYTES"):
        assert sample(idle, name) > 0  # a GPU's PCIe link is never quite silent
    for name in ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_SM_OCCUPANCY"):
        assert 0 <= sample(render(100), name) <= 1  # ratios
