"""Runs recorded on the local node (tests/unit/report/fixtures: a Concurrency run against the batching
mock with the DCGM stand-in and vLLM's series, a Rate run, a CapacityRecommendation and its children)
written into a results store the way the operator writes them (run_row, level_row,
recommendation_row), so the dashboard draws real figures."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    LevelResult,
    LoadTestSpec,
    LoadTestStatus,
)
from loadtest_operator.core.plan import ChildRun
from loadtest_operator.io.store import level_row, run_row, save_run
from loadtest_operator.io.store.recommendations import recommendation_row, save_recommendation

FIXTURES = Path(__file__).parents[1] / "unit" / "report" / "fixtures"
BATCHING = "loadtest-batching-mock.json"
RATE = "loadtest-rate-saturated.json"
SLOWER = 1.25  # the "slower" copy's latencies, relative to the recorded run


def recorded(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


def as_namespace(obj: dict[str, Any], namespace: str, name: str | None = None) -> dict[str, Any]:
    moved = copy.deepcopy(obj)
    moved["metadata"]["namespace"] = namespace
    if name:
        moved["metadata"]["name"] = name
        moved["metadata"]["uid"] = f"{obj['metadata']['uid'][:24]}{name[:12]:>12}"
    return moved


def slower(obj: dict[str, Any], factor: float = SLOWER) -> dict[str, Any]:
    """The run with every client latency figure times `factor` (a second run to compare against)."""
    changed = copy.deepcopy(obj)
    for level in changed["status"]["levels"]:
        for family in ("ttft", "tpot", "itl", "e2e"):
            for stat, value in (level.get(family) or {}).items():
                if stat != "count" and isinstance(value, float | int):
                    level[family][stat] = value * factor
    return changed


def store_loadtest(engine: Engine, obj: dict[str, Any], started: datetime, *, final: bool = True) -> str:
    """The LoadTest `obj` as the operator stores it (final: with its levels; else the "started" row)."""
    metadata, status = obj["metadata"], LoadTestStatus.model_validate(obj["status"])
    spec = LoadTestSpec.model_validate(obj["spec"])
    wire = obj["status"]
    run = run_row(
        uid=metadata["uid"], namespace=metadata["namespace"], name=metadata["name"], spec=spec,
        status=str(wire["phase"]) if final else "Running", started_at=started,
        updated_at=started + timedelta(minutes=2), finished_at=started + timedelta(minutes=2) if final else None,
        model=status.target.model if status.target else None, best_goodput_level=status.best_goodput_level,
        summary={k: v for k, v in wire.items() if k != "levels"},
    )  # fmt: skip
    levels = [
        level_row(metadata["uid"], spec.run_id, LevelResult.model_validate(lv)) for lv in wire["levels"]
    ]
    save_run(engine, run, levels if final else [])
    return f"{metadata['namespace']}/{metadata['name']}:{spec.run_id}"


def store_recommendation(engine: Engine, namespace: str, started: datetime) -> str:
    """The recorded CapacityRecommendation and its three children, in `namespace`."""
    rec = as_namespace(recorded("capacityrecommendation-levels.json"), namespace)
    children = []
    for i, child_name in enumerate(rec["status"]["children"]):
        child = as_namespace(recorded(f"capacityrecommendation-child-{child_name}.json"), namespace)
        store_loadtest(engine, child, started + timedelta(minutes=i))
        level = child["spec"]["load"]["levels"][0]
        children.append(ChildRun(child_name, child["metadata"]["uid"], 0, level, 0))
    row = recommendation_row(
        uid=rec["metadata"]["uid"], namespace=namespace, name=rec["metadata"]["name"],
        spec=CapacityRecommendationSpec.model_validate(rec["spec"]),
        status=CapacityRecommendationStatus.model_validate(rec["status"]), children=children,
        target=str(rec["status"]["target"]), ready_reason="Recommended", created_at=started,
        updated_at=started + timedelta(minutes=5),
    )  # fmt: skip
    save_recommendation(engine, row)
    return f"{namespace}/{rec['metadata']['name']}"
