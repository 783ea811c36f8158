"""A run report: what was measured, the findings, and the per-level table they were drawn from, built from a
LoadTest as the API server holds it (or a CapacityRecommendation and its child LoadTests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    LevelResult,
    LoadMode,
    LoadTestConditionType,
    LoadTestSpec,
    LoadTestStatus,
    Slo,
)
from loadtest_operator.capacity.slo import objectives
from loadtest_operator.report.rules import Figure, Finding, RunFigures, Severity, findings, not_judged

LEVEL_COLUMNS = (
    "Level", "Requests", "Errors", "Req/s", "Out tok/s", "TTFT p50/p90/p99 ms", "TPOT p50/p90 ms",
    "E2E p50/p90 ms", "Goodput %", "SLO", "GPU util %", "Power W", "J/1k tok", "vLLM run/wait", "KV max %",
)  # fmt: skip


@dataclass(frozen=True)
class CurvePoint:
    level: int
    requests_per_second: float
    ttft_p90: float | None
    e2e_p90: float | None
    within_slo: bool | None


def curve(levels: Sequence[LevelResult]) -> tuple[CurvePoint, ...]:
    return tuple(
        CurvePoint(
            lv.level,
            lv.requests_per_second,
            lv.ttft.p90 if lv.ttft else None,
            lv.e2e.p90 if lv.e2e else None,
            lv.within_slo,
        )
        for lv in levels
    )


@dataclass(frozen=True)
class Report:
    kind: str  # LoadTest or CapacityRecommendation
    namespace: str
    name: str
    facts: tuple[tuple[str, str], ...]  # what was measured, one (label, value) per line
    findings: tuple[Finding, ...]
    not_judged: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # LEVEL_COLUMNS per level
    trace: tuple[tuple[str, ...], ...] = field(default=())  # a recommendation's search, one row per level
    curve: tuple[CurvePoint, ...] = field(default=())  # latency against throughput, one point per level
    ttft_objective: int | None = None  # the SLO's TTFT objective, ms (a line on the curve)
    notes: tuple[str, ...] = field(default=())  # what the report could not read (e.g. not in the store)

    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=Severity.OK)


class ReportError(ValueError):
    """The object cannot be reported on; the message says what is wrong and how to fix it."""


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _triple(summary: Any, fields: Sequence[str]) -> str:
    return "/".join(_num(getattr(summary, f, None)) for f in fields) if summary else "-"


def level_row(lv: LevelResult) -> tuple[str, ...]:
    gpu, server = lv.gpu, lv.server
    return (
        str(lv.level) + (" (client-bound)" if lv.client_saturated else ""),
        str(lv.requests),
        str(lv.requests - lv.successes),
        _num(lv.requests_per_second, 2),
        _num(lv.output_tokens_per_second),
        _triple(lv.ttft, ("p50", "p90", "p99")),
        _triple(lv.tpot, ("p50", "p90")),
        _triple(lv.e2e, ("p50", "p90")),
        _num(lv.goodput.percent if lv.goodput else None),
        {True: "met", False: "missed", None: "-"}[lv.within_slo],
        _num(gpu.utilization_percent_mean if gpu else None, 0),
        _num(gpu.power_watts_total_mean if gpu else None, 0),
        _num(gpu.joules_per_1k_output_tokens if gpu else None, 0),
        "-"
        if server is None
        else f"{_num(server.requests_running_mean)}/{_num(server.requests_waiting_mean)}",
        _num(server.kv_cache_usage_percent_max if server else None),
    )


def _slo_text(slo: Slo | None) -> str:
    parts = objectives(slo) if slo is not None else []
    return f"{', '.join(parts)} at p{slo.percentile}" if slo is not None and parts else "none"


def validated(model: Any, data: Any, what: str) -> Any:
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise ReportError(f"{what} is not one the operator wrote ({exc.error_count()} problems: {exc.errors()[0]['msg']}); "
                          "report on an object read from the API server") from exc  # fmt: skip


def loadtest_report(body: Mapping[str, Any]) -> Report:
    """The report of one LoadTest (its spec and status as the API server returns them)."""
    meta = body.get("metadata") or {}
    status: LoadTestStatus = validated(LoadTestStatus, body.get("status"), "the LoadTest's status")
    spec: LoadTestSpec | None = None
    if body.get("spec"):
        spec = validated(LoadTestSpec, body["spec"], "the LoadTest's spec")
    slo = spec.slo if spec else None
    unit = "requests per second" if spec and spec.load.mode is LoadMode.RATE else "concurrency"
    run = RunFigures.of(status.levels or [], slo, unit)
    succeeded = next((c for c in status.conditions or [] if c.type == LoadTestConditionType.SUCCEEDED), None)
    facts = [
        ("phase", f"{status.phase or 'Pending'}" + (f" ({succeeded.reason})" if succeeded else "")),
        ("target", (status.target.display or "?") if status.target else "?"),
        ("model", (status.target.model or "?") if status.target else "?"),
        ("load", f"{unit}, levels {', '.join(str(lv.level) for lv in run.levels) or 'none yet'}"),
        ("SLO", _slo_text(slo)),
    ]
    if status.start_time:
        facts.append(("started", status.start_time.isoformat()))
    if status.completion_time:
        facts.append(("finished", status.completion_time.isoformat()))
    if status.fingerprint and status.fingerprint.vllm_version:
        facts.append(("vLLM", status.fingerprint.vllm_version))
    gpus = sorted({m for m in (status.target.gpu_models or [])} if status.target else set())
    if gpus:
        facts.append(("GPUs", ", ".join(gpus)))
    if status.gpu_discovery is not None and not status.gpu_discovery.available:
        facts.append(("GPU figures", f"none ({status.gpu_discovery.reason.value})"))
    if status.summary:
        facts.append(("summary", status.summary))
    return Report(
        kind="LoadTest",
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        facts=tuple(facts),
        findings=tuple(findings(run)),
        not_judged=tuple(not_judged(run)),
        rows=tuple(level_row(lv) for lv in run.levels),
        curve=curve(run.levels),
        ttft_objective=slo.ttft_milliseconds if slo else None,
    )


def _worst_repeat(levels: Sequence[LevelResult]) -> LevelResult:
    """Of several repeats of one level, the one with the lowest goodput (the search judges by it)."""
    return min(levels, key=lambda lv: (lv.goodput.percent if lv.goodput else 100.0, -lv.requests))


def capacity_report(body: Mapping[str, Any], children: Sequence[Mapping[str, Any]]) -> Report:
    """The report of a CapacityRecommendation: its knee, search and formula, and the findings over its child
    LoadTests' levels (the worst repeat of each level)."""
    status: CapacityRecommendationStatus = validated(
        CapacityRecommendationStatus, body.get("status"), "the CapacityRecommendation's status"
    )
    workload = status.workload
    return capacity_parts(
        body,
        status,
        children,
        workload.mode if workload else None,
        f"{workload.mode.value}, peak {workload.peak}" if workload else "?",
    )


def capacity_parts(
    body: Mapping[str, Any],
    status: CapacityRecommendationStatus,
    children: Sequence[Mapping[str, Any]],
    mode: LoadMode | None,
    workload: str,
) -> Report:
    """capacity_report from its parts: the status, the children's bodies, the load mode and the workload as
    one line (a stored recommendation keeps these apart from a status)."""
    meta = body.get("metadata") or {}
    spec: CapacityRecommendationSpec | None = None
    if body.get("spec"):
        spec = validated(CapacityRecommendationSpec, body["spec"], "the CapacityRecommendation's spec")
    by_level: dict[int, list[LevelResult]] = {}
    for child in children:
        for lv in validated(LoadTestStatus, child.get("status"), "a child LoadTest's status").levels or []:
            by_level.setdefault(lv.level, []).append(lv)
    levels = [_worst_repeat(lvs) for _, lvs in sorted(by_level.items())]
    slo = Slo.model_validate(spec.slo.model_dump(exclude={"goodput_percent"})) if spec else None
    unit = "requests per second" if mode is LoadMode.RATE else "concurrency"
    run = RunFigures.of(levels, slo, unit)
    found = [capacity_finding(status, spec), *findings(run)]
    facts = [
        ("target", status.target or "?"),
        ("workload", workload),
        ("SLO", _slo_text(slo) + (f", goodput >= {spec.slo.goodput_percent} %" if spec else "")),
        ("child LoadTests", f"{len(children)} read of {len(status.children or [])}"),
    ]
    if status.summary:
        facts.append(("summary", status.summary))
    trace = tuple(
        (
            str(t.level),
            _num(t.goodput_percent),
            {True: "within", False: "missed", None: "measuring"}[t.within_slo],
        )
        for t in status.search_trace or []
    )
    return Report(
        kind="CapacityRecommendation",
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        facts=tuple(facts),
        findings=tuple(f for f in found if f is not None),
        not_judged=tuple(not_judged(run)),
        rows=tuple(level_row(lv) for lv in run.levels),
        trace=trace,
        curve=curve(run.levels),
        ttft_objective=slo.ttft_milliseconds if slo else None,
    )


def capacity_finding(
    status: CapacityRecommendationStatus, spec: CapacityRecommendationSpec | None
) -> Finding | None:
    """The knee the search found, the first level it saw miss, and the recommendation's formula."""
    measured, rec = status.measured, status.recommendation
    trace = sorted(status.search_trace or [], key=lambda t: t.level)
    missed = next((t for t in trace if t.within_slo is False), None)
    if measured is None or measured.knee_level is None:
        if not trace:
            return None
        return Finding(
            "capacity",
            Severity.PROBLEM if missed else Severity.INFO,
            "No level was within the SLO" if missed else "The search has no knee yet",
            (f"Level {missed.level} missed the SLO (goodput {_num(missed.goodput_percent)} %); "
             "no lower level held it.") if missed else "Levels are still being measured.",
            tuple(Figure(f"goodput at level {t.level}", t.goodput_percent, "%") for t in trace),
            tuple(t.level for t in trace),
        )  # fmt: skip
    figures = [
        Figure("knee", measured.knee_level),
        Figure("ready replicas measured", measured.current_replicas),
        Figure("GPUs per replica", measured.gpus_per_replica),
        Figure("goodput at the knee", measured.goodput_percent_at_knee, "%"),
    ]
    if missed:
        figures.append(Figure(f"goodput at level {missed.level} (first miss)", missed.goodput_percent, "%"))
    if rec is not None:
        figures += [Figure("recommended replicas", rec.replicas), Figure("GPUs", rec.total_gpus)]
        if rec.cost_per_hour:
            figures.append(Figure("cost per hour", rec.cost_per_hour, rec.currency or ""))
        figures.append(Figure("formula", rec.formula))
    lower = bool(measured.knee_is_lower_bound)
    detail = (
        f"The search measured {len(trace)} level(s); the knee is level {measured.knee_level}"
        + (f", below level {missed.level}, the first that missed" if missed else "")
        + (" (a lower bound: no higher level missed within the search's limits)" if lower else "")
        + "."
        + (f" {rec.reasoning}" if rec else "")
    )
    return Finding(
        "capacity",
        Severity.WARNING if lower else Severity.INFO,
        f"Knee at level {measured.knee_level}"
        + (f": {rec.replicas} replica(s), {rec.total_gpus} GPU(s) for the peak" if rec else ""),
        detail,
        tuple(figures),
        tuple(x for x in (measured.knee_level, missed.level if missed else None) if x is not None),
    )
