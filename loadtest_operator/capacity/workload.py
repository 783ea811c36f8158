"""The workload a CapacityRecommendation measures and sizes for: from the spec, or derived from
Prometheus once and then kept in status (so the measurement, and the children's names, stay stable)."""

from datetime import datetime

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    LoadMode,
    ResolvedWorkload,
    TokenDistribution,
    WorkloadSource,
)
from loadtest_operator.capacity.prometheus import DerivedWorkload


def needs_prometheus(spec: CapacityRecommendationSpec, previous: ResolvedWorkload | None) -> bool:
    """Whether the handler must query Prometheus this reconcile: fromPrometheus is set and no derived
    workload is kept in status yet."""
    return spec.workload.from_prometheus is not None and (
        previous is None or previous.source is not WorkloadSource.PROMETHEUS
    )


def resolve_workload(
    spec: CapacityRecommendationSpec,
    previous: ResolvedWorkload | None = None,
    derived: DerivedWorkload | None = None,
    *,
    queries: list[str] | None = None,
    now: datetime | None = None,
) -> ResolvedWorkload | None:
    """The workload to measure. With fromPrometheus: the one kept in status (`previous`), else the one
    just `derived`, else None (derive first). Token lengths set in the spec override derived ones."""
    workload = spec.workload
    from_prometheus = workload.from_prometheus
    if from_prometheus is None:
        if workload.input_tokens is None or workload.output_tokens is None:
            return None
        if workload.peak_concurrency is not None:
            mode, peak = LoadMode.CONCURRENCY, workload.peak_concurrency
        elif workload.peak_requests_per_second is not None:
            mode, peak = LoadMode.RATE, workload.peak_requests_per_second
        else:
            return None
        return ResolvedWorkload(
            source=WorkloadSource.SPEC,
            mode=mode,
            peak=peak,
            input_tokens=workload.input_tokens,
            output_tokens=workload.output_tokens,
        )
    if previous is not None and previous.source is WorkloadSource.PROMETHEUS:
        base = previous
    elif derived is not None:
        base = ResolvedWorkload(
            source=WorkloadSource.PROMETHEUS,
            mode=from_prometheus.peak,
            peak=derived.peak,
            input_tokens=derived.input_tokens,
            output_tokens=derived.output_tokens,
            queries=queries,
            derived_at=now.isoformat() if now is not None else None,
        )
    else:
        return None
    return base.model_copy(
        update={
            "input_tokens": _override(workload.input_tokens, base.input_tokens),
            "output_tokens": _override(workload.output_tokens, base.output_tokens),
        }
    )


def _override(given: TokenDistribution | None, derived: TokenDistribution) -> TokenDistribution:
    return given if given is not None else derived
