"""The recorded LoadTests and CapacityRecommendation as the results store holds them: what the operator
writes (loadtest/plan.py `_store`: the spec, the status without its levels, each level's LevelResult;
io/store/recommendations.py: the recommendation's row), built from the recorded objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest_operator.api import LevelResult
from loadtest_operator.api.wire import to_wire
from loadtest_operator.report.stored import StoredRecommendation, StoredRun

FIXTURES = Path(__file__).parent / "fixtures"
WRITTEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


def as_stored(body: dict[str, Any]) -> StoredRun:
    status = body["status"]
    levels = [to_wire(LevelResult.model_validate(lv)) for lv in status.get("levels") or []]
    return StoredRun(
        namespace=body["metadata"]["namespace"],
        name=body["metadata"]["name"],
        uid=body["metadata"]["uid"],
        run_id=int(body["spec"].get("runId") or 0),
        outcome=status.get("phase") or "Running",
        updated_at=WRITTEN,
        spec=body["spec"],
        summary={k: v for k, v in status.items() if k != "levels"},
        levels=tuple(levels),
    )


def capacity() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    body = load("capacityrecommendation-levels.json")
    return body, [load(f"capacityrecommendation-child-{n}.json") for n in body["status"]["children"]]


def as_stored_recommendation(body: dict[str, Any], children: list[dict[str, Any]]) -> StoredRecommendation:
    status = body["status"]
    return StoredRecommendation(
        namespace=body["metadata"]["namespace"],
        name=body["metadata"]["name"],
        target=status["target"],
        mode=status["workload"]["mode"],
        peak=status["workload"]["peak"],
        ready_reason=next(c["reason"] for c in status["conditions"] if c["type"] == "Ready"),
        updated_at=WRITTEN,
        spec=body["spec"],
        measured=status["measured"],
        recommendation=status["recommendation"],
        children=tuple(
            {
                "name": c["metadata"]["name"],
                "loadtestUid": c["metadata"]["uid"],
                "runId": int(c["spec"].get("runId") or 0),
                "level": int(c["metadata"]["labels"]["llmload.io/level"]),
                "repeat": int(c["metadata"]["labels"]["llmload.io/repeat"]),
            }
            for c in children
        ),
    )
