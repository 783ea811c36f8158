"""Stored rows as the API's JSON (camelCase, RFC 3339 times in UTC). No I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from loadtest_operator.io.store.models import LevelResultRow, RecommendationRow, Run
from loadtest_operator.results.figures import level_figures, run_gpus
from loadtest_operator.results.query import SHORT_UID


class RunKey(Protocol):
    """What names a run: a stored Run, or a leaderboard's lighter row."""

    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def run_id(self) -> int: ...
    @property
    def loadtest_uid(self) -> str: ...


def run_ref(run: RunKey, *, with_uid: bool = False) -> str:
    """NAMESPACE/NAME:RUNID, and @ the uid's start when other LoadTests of that name stored that runId."""
    ref = f"{run.namespace}/{run.name}:{run.run_id}"
    return f"{ref}@{run.loadtest_uid[:SHORT_UID]}" if with_uid else ref


def distinct_refs(runs: Sequence[RunKey]) -> list[str]:
    """The refs of `runs`, with the uid's start on those whose NAMESPACE/NAME:RUNID repeats among them."""
    plain = [run_ref(r) for r in runs]
    repeated = {ref for ref, n in Counter(plain).items() if n > 1}
    return [run_ref(r, with_uid=p in repeated) for r, p in zip(runs, plain, strict=True)]


def run_json(
    run: Run, levels: Sequence[LevelResultRow] | None = None, *, detail: bool = False, shared: bool = False
) -> dict[str, Any]:
    """`shared`: other LoadTests of this name stored this runId too; `uniqueRef` then carries @UID."""
    body: dict[str, Any] = {
        "ref": run_ref(run),
        "uniqueRef": run_ref(run, with_uid=shared),
        "namespace": run.namespace,
        "name": run.name,
        "uid": run.loadtest_uid,
        "runId": run.run_id,
        "model": run.model,
        "target": run.target,
        "api": run.api,
        "mode": run.mode,
        "outcome": run.status,
        "reason": run.reason,
        "startedAt": run.started_at.isoformat(),
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "bestGoodputLevel": run.best_goodput_level,
        "vllmVersion": run.vllm_version,
        "gpus": run_gpus(run.summary),
        "labels": run.labels or {},
    }
    if detail:
        body["spec"] = run.spec
        body["summary"] = run.summary
        body["fingerprint"] = run.fingerprint
    if levels is not None:
        gpus = run_gpus(run.summary)
        body["levels"] = [level_json(row, gpus, detail=detail) for row in levels]
    return body


def level_json(row: LevelResultRow, gpus: int | None, *, detail: bool) -> dict[str, Any]:
    columns = row.model_dump()
    body: dict[str, Any] = {
        "level": row.level,
        "requests": row.requests,
        "successes": row.successes,
        "errors": row.errors,
        "latencyFrom": row.latency_from,
        "withinSlo": row.within_slo,
        "clientSaturated": row.client_saturated,
        "figures": level_figures(columns, gpus),
    }
    if detail:
        body["result"] = row.result
    return body


def level_map(levels: Sequence[LevelResultRow]) -> dict[int, Mapping[str, Any]]:
    return {row.level: row.model_dump() for row in levels}


def recommendation_json(
    row: RecommendationRow, trace: list[dict[str, Any]] | None = None, *, detail: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "namespace": row.namespace,
        "name": row.name,
        "uid": row.uid,
        "target": row.target,
        "deployment": row.deployment,
        "mode": row.mode,
        "peak": row.peak,
        "kneeLevel": row.knee_level,
        "replicas": row.replicas,
        "totalGpus": row.total_gpus,
        "costPerHour": row.cost_per_hour,
        "currency": row.currency,
        "readyReason": row.ready_reason,
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }
    if detail:
        body.update(
            spec=row.spec, measured=row.measured, recommendation=row.recommendation, children=row.children
        )
    if trace is not None:
        body["searchTrace"] = trace
    return body


def search_trace(
    row: RecommendationRow,
    runs: Mapping[tuple[str, int], Run],
    levels: Mapping[tuple[str, int], Sequence[LevelResultRow]],
) -> list[dict[str, Any]]:
    """The search as the store saw it: each child LoadTest (level, repeat) with its run's outcome and the
    figures of the level it measured, in the order levels were searched (ascending level, then repeat)."""
    trace = []
    for child in row.children:
        key = (str(child.get("loadtestUid")), int(child.get("runId") or 0))
        run = runs.get(key)
        measured = next((lv for lv in levels.get(key, ()) if lv.level == child.get("level")), None)
        figures = (
            level_figures(measured.model_dump(), run_gpus(run.summary) if run else None) if measured else None
        )
        trace.append(
            {
                "level": child.get("level"),
                "repeat": child.get("repeat"),
                "loadtest": child.get("name"),
                "runId": child.get("runId"),
                "outcome": run.status if run else None,
                "withinSlo": measured.within_slo if measured else None,
                "goodputPercent": figures["goodput_percent"] if figures else None,
                "ttftP90Ms": figures["ttft_p90_ms"] if figures else None,
                "outputTokensPerS": figures["output_tokens_per_s"] if figures else None,
            }
        )
    return trace
