"""The run store on SQLite and PostgreSQL: idempotent writes keyed by uid and runId, history queries."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from loadtest_operator.api import Goodput, LatencySummary, LevelResult, LoadTestSpec
from loadtest_operator.io.store import (
    LevelResultRow,
    Run,
    RunQuery,
    get_run,
    level_history,
    level_row,
    list_level_results,
    list_runs,
    run_row,
    save_run,
    upgrade,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
SPEC = LoadTestSpec.model_validate(
    {
        "target": {"serviceRef": {"name": "vllm", "port": 8000}, "model": "llama-3-8b"},
        "workload": {"inputTokens": {"mean": 512}, "outputTokens": {"mean": 128}},
        "load": {"levels": [1, 2, 4], "requestsPerLevel": 100},
        "slo": {"ttftMilliseconds": 500},
    }
)


@pytest.fixture
def store(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


def make_run(
    uid: str = "uid-1",
    *,
    run_id: int = 0,
    status: str = "Succeeded",
    started: datetime = T0,
    model: str | None = None,
    name: str = "sweep",
    finished: bool = True,
) -> Run:
    spec = SPEC.model_copy(update={"run_id": run_id})
    return run_row(
        uid=uid,
        namespace="bench",
        name=name,
        spec=spec,
        status=status,
        started_at=started,
        updated_at=started + timedelta(minutes=10),
        finished_at=started + timedelta(minutes=10) if finished else None,
        model=model,
        best_goodput_level=2,
        summary={"summary": "3 levels"},
    )


def make_levels(
    uid: str = "uid-1", run_id: int = 0, levels: Sequence[int] = (1, 2, 4)
) -> list[LevelResultRow]:
    return [
        level_row(
            uid,
            run_id,
            LevelResult(
                level=level,
                requests=100,
                successes=100 - level,
                errors_by_kind={"Timeout": level},
                requests_per_second=2.5 * level,
                output_tokens_per_second=250.0 * level,
                total_tokens_per_second=1500.0 * level,
                ttft=LatencySummary(
                    p50=100.0 * level, p90=150.0 * level, p99=190.0 * level, mean=110.0 * level
                ),
                goodput=Goodput(count=90, per_second=2.0 * level, percent=90.0),
                within_slo=level < 4,
                start=T0 + timedelta(minutes=level),
                end=T0 + timedelta(minutes=level + 1),
            ),
        )
        for level in levels
    ]


def count(engine: Engine, model: type[Run] | type[LevelResultRow]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def test_save_and_read_back(store: Engine) -> None:
    save_run(store, make_run(), make_levels())
    run = get_run(store, "uid-1", 0)
    assert run is not None
    assert (run.namespace, run.name, run.target, run.model) == (
        "bench",
        "sweep",
        "service/vllm:8000",
        "llama-3-8b",
    )
    assert (run.api, run.mode, run.status, run.best_goodput_level) == ("Chat", "Concurrency", "Succeeded", 2)
    assert run.started_at == T0
    assert run.started_at.tzinfo is not None
    assert run.spec["load"]["requestsPerLevel"] == 100
    assert run.summary == {"summary": "3 levels"}

    levels = list_level_results(store, "uid-1", 0)
    assert [row.level for row in levels] == [1, 2, 4]
    second = levels[1]
    assert (second.requests, second.successes, second.errors) == (100, 98, 2)
    assert second.ttft_p99_ms == pytest.approx(380.0)
    assert second.tpot_p50_ms is None
    assert second.goodput_per_second == pytest.approx(4.0)
    assert second.within_slo is True
    assert levels[2].within_slo is False
    assert second.started_at == T0 + timedelta(minutes=2)
    assert second.result["errorsByKind"] == {"Timeout": 2}


def test_timestamps_come_back_in_utc(store: Engine) -> None:
    tokyo = timezone(timedelta(hours=9))
    save_run(store, make_run(started=T0.astimezone(tokyo)))
    run = get_run(store, "uid-1", 0)
    assert run is not None
    assert run.started_at == T0
    assert run.started_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(store: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        save_run(store, make_run(started=T0.replace(tzinfo=None)))


def test_retried_writes_never_duplicate(store: Engine) -> None:
    for _ in range(3):
        save_run(store, make_run(), make_levels())
    assert count(store, Run) == 1
    assert count(store, LevelResultRow) == 3


def test_started_then_finished_updates_one_row(store: Engine) -> None:
    save_run(store, make_run(status="Running", finished=False))
    save_run(store, make_run(status="Failed"), make_levels())
    (run,) = list_runs(store)
    assert run.status == "Failed"
    assert run.finished_at == T0 + timedelta(minutes=10)


def test_a_late_started_write_never_unfinishes_a_run(store: Engine) -> None:
    save_run(store, make_run(status="Succeeded"), make_levels())
    save_run(store, make_run(status="Running", finished=False))  # delayed retry of the first write
    run = get_run(store, "uid-1", 0)
    assert run is not None
    assert (run.status, run.finished_at) == ("Succeeded", T0 + timedelta(minutes=10))
    save_run(store, make_run(status="Failed"))  # a finished write still replaces a finished one
    run = get_run(store, "uid-1", 0)
    assert run is not None
    assert run.status == "Failed"


def test_levels_are_replaced_not_accumulated(store: Engine) -> None:
    save_run(store, make_run(), make_levels(levels=(1, 2, 4)))
    save_run(store, make_run(), make_levels(levels=(1, 2)))
    assert [row.level for row in list_level_results(store, "uid-1", 0)] == [1, 2]
    save_run(store, make_run())  # levels=None: a status-only write keeps them
    assert [row.level for row in list_level_results(store, "uid-1", 0)] == [1, 2]


def test_runs_of_the_same_loadtest_are_kept_apart(store: Engine) -> None:
    save_run(store, make_run(run_id=0), make_levels(run_id=0))
    save_run(store, make_run(run_id=1), make_levels(run_id=1, levels=(8,)))
    assert count(store, Run) == 2
    assert [row.level for row in list_level_results(store, "uid-1", 1)] == [8]


def test_levels_of_another_run_are_refused(store: Engine) -> None:
    with pytest.raises(ValueError, match="another run"):
        save_run(store, make_run(run_id=0), make_levels(run_id=1))
    assert count(store, Run) == 0  # nothing half-written


def test_deleting_a_run_deletes_its_levels(store: Engine) -> None:
    save_run(store, make_run(), make_levels())
    with store.begin() as connection:
        connection.execute(delete(Run))
    assert count(store, LevelResultRow) == 0


@pytest.fixture
def history(store: Engine) -> Engine:
    rows = [
        make_run("a", started=T0, model="llama-3-8b", status="Succeeded"),
        make_run("b", started=T0 + timedelta(hours=1), model="mistral-7b", status="Failed"),
        make_run("c", started=T0 + timedelta(hours=2), model="llama-3-8b", status="Failed", name="other"),
        make_run("d", started=T0 + timedelta(hours=3), model="llama-3-8b", status="Running", finished=False),
    ]
    for run in rows:
        save_run(store, run, make_levels(run.loadtest_uid))
    return store


@pytest.mark.parametrize(
    ("query", "uids"),
    [
        (RunQuery(), ["d", "c", "b", "a"]),
        (RunQuery(model="llama-3-8b"), ["d", "c", "a"]),
        (RunQuery(status="Failed"), ["c", "b"]),
        (RunQuery(model="llama-3-8b", status="Failed"), ["c"]),
        (RunQuery(namespace="bench", name="other"), ["c"]),
        (RunQuery(target="service/vllm:8000", limit=2), ["d", "c"]),
        (RunQuery(target="http://elsewhere"), []),
        (RunQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)), ["c", "b"]),
    ],
)
def test_list_runs(history: Engine, query: RunQuery, uids: list[str]) -> None:
    assert [run.loadtest_uid for run in list_runs(history, query)] == uids


def test_level_history_covers_finished_runs_newest_first(history: Engine) -> None:
    rows = level_history(history, level=2, model="llama-3-8b")
    assert [(run.loadtest_uid, row.level) for run, row in rows] == [("c", 2), ("a", 2)]
    assert level_history(history, level=3) == []
