"""Every SQL query of every board the chart ships runs against a real PostgreSQL holding runs written through
the store, and returns rows in which every column has a value (a wrong JSON path in `result` would give a
column of NULLs, so it fails here, not in a user's Grafana).

The runs are a real one: the LoadTest recorded from the e2e board test (a batching mock vLLM with the DCGM
stand-in: GPU, vLLM and alignment figures in every level), written the way the operator writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loadtest_operator.api import LevelResult, LoadTestSpec, LoadTestStatus
from loadtest_operator.api.wire import to_wire
from loadtest_operator.io.store import (
    create_store_engine,
    level_row,
    run_row,
    save_recommendation,
    save_run,
    upgrade,
)
from tests.boards import POSTGRES, all_queries, sql
from tests.integration.store.test_recommendations import recommended, row

pytestmark = pytest.mark.integration

RECORDED = (
    Path(__file__).resolve().parents[2] / "unit" / "report" / "fixtures" / "loadtest-batching-mock.json"
)


@pytest.fixture
def store(postgres_url: str) -> Iterator[Engine]:
    engine = create_store_engine(postgres_url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def write_recorded_run(engine: Engine) -> dict[str, Any]:
    """The recorded LoadTest into the store, as the operator's plan writes it (loadtest/plan.py)."""
    lt: dict[str, Any] = json.loads(RECORDED.read_text())
    meta, spec = lt["metadata"], LoadTestSpec.model_validate(lt["spec"])
    status = LoadTestStatus.model_validate(lt["status"])
    assert status.start_time is not None
    assert status.completion_time is not None
    run = run_row(
        uid=meta["uid"],
        namespace=meta["namespace"],
        name=meta["name"],
        spec=spec,
        status="Succeeded",
        reason="Completed",
        started_at=status.start_time,
        finished_at=status.completion_time,
        updated_at=status.completion_time,
        model=status.target.model if status.target else None,
        best_goodput_level=status.best_goodput_level,
        summary={k: v for k, v in to_wire(status).items() if k != "levels"},
    )
    levels = [
        level_row(meta["uid"], spec.run_id, LevelResult.model_validate(lv)) for lv in lt["status"]["levels"]
    ]
    save_run(engine, run, levels)
    save_recommendation(
        engine, row(recommended(), "Recommended", status.completion_time, namespace=meta["namespace"])
    )
    return lt


def test_every_sql_query_of_every_board_returns_rows_with_values(store: Engine) -> None:
    lt = write_recorded_run(store)
    values = {"namespace": [lt["metadata"]["namespace"], "other"], "loadtest": [lt["metadata"]["name"]]}
    started = datetime.fromisoformat(lt["status"]["startTime"])
    start, end = started - timedelta(hours=1), started + timedelta(hours=1)
    found = all_queries(POSTGRES)
    assert len(found) >= 10
    problems = []
    with store.connect() as connection:
        for query in found:
            statement = sql(query.text, values, start, end)
            result = connection.execute(text(statement))
            columns, rows = list(result.keys()), result.fetchall()
            print(f"{query}: {len(rows)} rows, columns {columns}")
            if not rows:
                problems.append(f"{query}: no rows\n    {statement}")
                continue
            empty = [c for i, c in enumerate(columns) if all(r[i] is None for r in rows)]
            if empty:
                problems.append(f"{query}: columns without a value {empty}\n    {statement}")
    assert not problems, "\n".join(problems)


def test_the_time_range_and_the_variables_filter(store: Engine) -> None:
    """The same queries outside the run's time, or for another namespace, return nothing: the filters work."""
    lt = write_recorded_run(store)
    started = datetime.fromisoformat(lt["status"]["startTime"])
    long_before = (started - timedelta(days=30), started - timedelta(days=29))
    filtered = [q for q in all_queries(POSTGRES) if "$__timeFilter" in q.text]
    assert filtered
    with store.connect() as connection:
        for query in filtered:
            for values, window in (
                (
                    {"namespace": [lt["metadata"]["namespace"]], "loadtest": [lt["metadata"]["name"]]},
                    long_before,
                ),
                (
                    {"namespace": ["elsewhere"], "loadtest": [lt["metadata"]["name"]]},
                    (started - timedelta(hours=1), started + timedelta(hours=1)),
                ),
            ):
                statement = sql(query.text, values, *window)
                assert connection.execute(text(statement)).fetchall() == [], f"{query}\n    {statement}"
