"""GPU (DCGM) and server-side (vLLM) metrics of a LoadTest's levels, from Prometheus.

Pure: `series` (every metric name), `promql` (query strings), `discovery` (which series are the target's),
`aggregate` (figures and efficiency), `collect` (orchestration over a `MetricsSource`). The status models
are in `api/gpu.py`; the Prometheus client is `io/prometheus.py`.
"""

from loadtest_operator.api.gpu import (
    EnergySource,
    GpuDiscovery,
    GpuLevelMetrics,
    GpuMetricsReason,
    LatencyGap,
    MatchedBy,
    ServerLatency,
    ServerLevelMetrics,
)
from loadtest_operator.gpu.aggregate import DEFAULT_TOLERANCE, GapTolerance
from loadtest_operator.gpu.collect import LevelMetrics, LevelWindow
from loadtest_operator.gpu.discovery import PodRef

__all__ = [
    "DEFAULT_TOLERANCE",
    "EnergySource",
    "GapTolerance",
    "GpuDiscovery",
    "GpuLevelMetrics",
    "GpuMetricsReason",
    "LatencyGap",
    "LevelMetrics",
    "LevelWindow",
    "MatchedBy",
    "PodRef",
    "ServerLatency",
    "ServerLevelMetrics",
]
