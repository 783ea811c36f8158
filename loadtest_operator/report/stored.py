"""Reports of runs as the results store holds them: the same rules over the stored figures.

The store keeps a run's spec, its status without the levels (`summary`) and each level's LevelResult whole
(`level_results.result`), so every rule reads exactly what it reads from a live LoadTest. What the store
does not hold is said in the report's notes, never guessed: a run still running has no levels stored yet
(the operator writes them when the run ends), a row written without a summary has no phase, target or
fingerprint, and a CapacityRecommendation's status (search trace, summary, conditions) is not stored, so
its search trace is rebuilt from the stored child runs with the search's own verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    LoadMode,
    SearchTraceEntry,
)
from loadtest_operator.capacity.plan import search_settings
from loadtest_operator.capacity.search import level_verdict
from loadtest_operator.report.build import Report, capacity_parts, loadtest_report, validated

UNFINISHED = ("Pending", "Running")


@dataclass(frozen=True)
class StoredRun:
    """One stored run, as plain values (the results service reads it from its `runs` and `level_results`)."""

    namespace: str
    name: str
    uid: str
    run_id: int
    outcome: str  # the phase the operator stored: Running, Succeeded, Failed, Rejected
    updated_at: datetime
    spec: Mapping[str, Any]
    summary: Mapping[str, Any] | None  # the status without its levels, in wire form
    levels: tuple[Mapping[str, Any], ...]  # each level's LevelResult, in wire form

    def body(self) -> dict[str, Any]:
        """The run as the API server would return its LoadTest (no labels or annotations: not stored)."""
        status = dict(self.summary or {})
        status.setdefault("phase", self.outcome)
        status["levels"] = list(self.levels) or None
        return {
            "kind": "LoadTest",
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
            "spec": dict(self.spec),
            "status": status,
        }


@dataclass(frozen=True)
class StoredRecommendation:
    """One stored CapacityRecommendation (`recommendations` row) as plain values."""

    namespace: str
    name: str
    target: str
    mode: str | None
    peak: int | None
    ready_reason: str | None
    updated_at: datetime
    spec: Mapping[str, Any]
    measured: Mapping[str, Any] | None
    recommendation: Mapping[str, Any] | None
    children: tuple[Mapping[str, Any], ...]  # name, loadtestUid, runId, level, repeat


def _source(what: str, updated_at: datetime) -> tuple[str, str]:
    return ("source", f"the results store ({what}, last written {updated_at.isoformat()})")


def stored_loadtest_report(run: StoredRun) -> Report:
    report = loadtest_report(run.body())
    notes = list(report.notes)
    if run.summary is None:
        notes.append("The run's status summary is not in the store: its target, model, fingerprint and GPU "
                     "discovery are unknown here.")  # fmt: skip
    if not run.levels:
        notes.append(
            "No levels are stored yet: the operator stores a run's levels when the run ends "
            "(`llmload report NAME` reads the live LoadTest)."
            if run.outcome in UNFINISHED
            else "No levels are stored for this run: it ended before any level was measured."
        )
    return dataclasses.replace(
        report, facts=(*report.facts, _source(f"runId {run.run_id}", run.updated_at)), notes=tuple(notes)
    )


def _level_result(run: StoredRun, level: Any) -> Mapping[str, Any] | None:
    return next((lv for lv in run.levels if lv.get("level") == level), None)


def rebuilt_trace(
    rec: StoredRecommendation, spec: CapacityRecommendationSpec, runs: Mapping[tuple[str, int], StoredRun]
) -> list[SearchTraceEntry]:
    """The search trace from the stored child runs, as capacity/plan.py builds it from the live children:
    per level, the lowest goodput of the finished repeats and the search's verdict on them."""
    settings = search_settings(spec)
    by_level: dict[int, list[tuple[str, float | None]]] = {}
    for child in rec.children:
        level = child.get("level")
        if not isinstance(level, int):
            continue
        run = runs.get((str(child.get("loadtestUid")), int(child.get("runId") or 0)))
        result = _level_result(run, level) if run is not None and run.outcome not in UNFINISHED else None
        goodput = None if result is None else float((result.get("goodput") or {}).get("percent") or 0.0)
        by_level.setdefault(level, []).append((str(child.get("name", "")), goodput))
    entries = []
    for level, group in sorted(by_level.items()):
        measured = [g for _, g in group if g is not None]
        entries.append(
            SearchTraceEntry(
                level=level,
                goodput_percent=round(min(measured), 2) if measured else None,
                within_slo=level_verdict(measured, settings) if measured else None,
                children=[name for name, _ in group],
            )
        )
    return entries


def stored_capacity_report(rec: StoredRecommendation, runs: Mapping[tuple[str, int], StoredRun]) -> Report:
    """The report of a stored CapacityRecommendation over its stored child runs (`runs`, keyed by
    (LoadTest uid, runId); children not among them are named in the notes)."""
    spec: CapacityRecommendationSpec = validated(
        CapacityRecommendationSpec, rec.spec, "the stored CapacityRecommendation's spec"
    )
    keys = [(str(c.get("loadtestUid")), int(c.get("runId") or 0)) for c in rec.children]
    found = [runs[k] for k in keys if k in runs]
    missing = [str(c.get("name")) for c, k in zip(rec.children, keys, strict=True) if k not in runs]
    status: CapacityRecommendationStatus = validated(
        CapacityRecommendationStatus,
        {
            "target": rec.target,
            "measured": rec.measured,
            "recommendation": rec.recommendation,
            "children": [str(c.get("name")) for c in rec.children],
        },
        "the stored CapacityRecommendation",
    )
    status = status.model_copy(update={"search_trace": rebuilt_trace(rec, spec, runs) or None})
    mode = LoadMode(rec.mode) if rec.mode in {m.value for m in LoadMode} else None
    body = {"metadata": {"namespace": rec.namespace, "name": rec.name}, "spec": dict(rec.spec)}
    workload = f"{rec.mode}, peak {rec.peak}" if rec.mode and rec.peak else "?"
    report = capacity_parts(body, status, [r.body() for r in found], mode, workload)
    notes = [
        "The search trace is rebuilt from the stored child runs with the search's own verdict "
        "(the recommendation's status, with its trace, summary and conditions, is not stored).",
    ]
    if missing:
        notes.append(f"{len(missing)} child run(s) not in the store, left out: {', '.join(sorted(missing))}.")
    facts = [
        *report.facts,
        ("Ready reason", rec.ready_reason or "?"),
        _source("latest state", rec.updated_at),
    ]
    return dataclasses.replace(report, facts=tuple(facts), notes=(*report.notes, *notes))


__all__ = [
    "StoredRecommendation",
    "StoredRun",
    "rebuilt_trace",
    "stored_capacity_report",
    "stored_loadtest_report",
]
