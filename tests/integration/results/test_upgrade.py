"""Stores written by earlier releases upgraded without losing a row. 0005 -> 0006: the GPU figures move
from the JSON into their columns, and the service serves the old runs (their latency changes untested:
no spread was stored before 0006). 0006 -> 0007: runs keep every value and have no labels until the
operator writes them again; label selectors treat them as unlabelled."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, Table, inspect, select, text
from sqlalchemy.engine import Engine

from loadtest_operator.api import Goodput, LatencySummary, LevelResult
from loadtest_operator.api.gpu import GpuLevelMetrics
from loadtest_operator.io.store import current_revision, downgrade, level_row, save_run, upgrade
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer
from tests.integration.results.conftest import NOW, RIGHTS, USERS, FakeRights, FakeTokens
from tests.integration.store.test_migrations import save_old
from tests.integration.store.test_repository import make_run

pytestmark = pytest.mark.integration

NEW = {"ttft_count", "ttft_stddev_ms", "e2e_stddev_ms", "gpu_count", "joules_per_1k_output_tokens"}


def old_levels(uid: str, ttft: float) -> list[object]:
    return [
        level_row(
            uid,
            0,
            LevelResult(
                level=level,
                requests=100,
                successes=100,
                requests_per_second=1.0,
                output_tokens_per_second=400.0,
                total_tokens_per_second=800.0,
                ttft=LatencySummary(p50=ttft, p90=ttft * 2, mean=ttft),
                goodput=Goodput(count=90, per_second=0.9, percent=90.0),
                gpu=GpuLevelMetrics(gpu_count=2, joules_per_1k_output_tokens=150.0 + level),
            ),
        )
        for level in (1, 4)
    ]


def level_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("level_results")}


def test_upgrade_from_0005_keeps_every_row_and_fills_the_new_columns(engine: Engine) -> None:
    upgrade(engine, "0005")
    assert not NEW & level_columns(engine)
    save_old(engine, make_run("old-1"), old_levels("old-1", 100.0))  # type: ignore[arg-type]
    later = make_run("old-2").model_copy(
        update={"started_at": make_run().started_at + timedelta(days=1), "name": "again"}
    )
    save_old(engine, later, old_levels("old-2", 150.0))  # type: ignore[arg-type]

    upgrade(engine, "0006")
    assert current_revision(engine) == "0006"
    assert level_columns(engine) >= NEW
    with engine.connect() as connection:
        table = Table("level_results", MetaData(), autoload_with=connection)
        rows = connection.execute(table.select().order_by(table.c.loadtest_uid, table.c.level)).all()
        runs = connection.execute(text("SELECT count(*) FROM runs")).scalar_one()
    assert runs == 2
    assert [(r.loadtest_uid, r.level, r.gpu_count, r.joules_per_1k_output_tokens) for r in rows] == [
        ("old-1", 1, 2, 151.0), ("old-1", 4, 2, 154.0), ("old-2", 1, 2, 151.0), ("old-2", 4, 2, 154.0),
    ]  # fmt: skip
    assert {r.ttft_stddev_ms for r in rows} == {None}
    assert "ix_level_results_level" in {i["name"] for i in inspect(engine).get_indexes("level_results")}

    upgrade(engine)
    service = Service(engine=engine, authz=Authorizer(FakeTokens(USERS), FakeRights(RIGHTS)), now=lambda: NOW)
    with TestClient(create_app(service)) as client:
        auth = {"Authorization": "Bearer token-admin"}
        listed = client.get("/api/v1/runs", headers=auth).json()
        assert [i["ref"] for i in listed["items"]] == ["bench/again:0", "bench/sweep:0"]
        body = client.get(
            "/api/v1/compare",
            params={"run": ["bench/sweep", "bench/again"], "metric": "ttft_mean_ms"},
            headers=auth,
        ).json()
        (change,) = body["levels"][0]["metrics"][0]["changes"]
        assert (change["absolute"], change["verdict"]) == (50.0, "untested")
        assert "no sample count and spread stored" in change["basis"]
        energy = client.get(
            "/api/v1/leaderboard", params={"metric": "joules_per_1k_output_tokens"}, headers=auth
        ).json()
        assert [i["value"] for i in energy["items"]] == [151.0, 151.0]
    service.calls.close()

    downgrade(engine, "0005")
    assert not NEW & level_columns(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM level_results")).scalar_one() == 4


def run_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("runs")}


def test_upgrade_from_0006_keeps_every_row_and_old_runs_have_no_labels(engine: Engine) -> None:
    upgrade(engine, "0006")
    assert "labels" not in run_columns(engine)
    save_old(engine, make_run("old-1"), old_levels("old-1", 100.0))  # type: ignore[arg-type]
    later = make_run("old-2").model_copy(
        update={"started_at": make_run().started_at + timedelta(days=1), "name": "again"}
    )
    save_old(engine, later, old_levels("old-2", 150.0))  # type: ignore[arg-type]
    before = rows_of(engine)

    upgrade(engine)
    assert current_revision(engine) == "0007"
    assert "labels" in run_columns(engine)
    assert "ix_run_labels_key_value" in {i["name"] for i in inspect(engine).get_indexes("run_labels")}
    after = rows_of(engine)
    for table in ("runs", "level_results"):
        assert after[table] == before[table], table  # every row, every value

    service = Service(engine=engine, authz=Authorizer(FakeTokens(USERS), FakeRights(RIGHTS)), now=lambda: NOW)
    with TestClient(create_app(service)) as client:
        auth = {"Authorization": "Bearer token-admin"}

        def listed(**params: str) -> list[str]:
            body = client.get("/api/v1/runs", params=params, headers=auth).json()
            return [i["ref"] for i in body["items"]]

        assert listed() == ["bench/again:0", "bench/sweep:0"]
        assert listed(labelSelector="team") == []
        assert listed(labelSelector="!team,team!=a") == ["bench/again:0", "bench/sweep:0"]
        # The operator writes the run again (a restart re-checks finished runs): now it has its labels.
        save_run(engine, make_run("old-1").model_copy(update={"labels": {"team": "a"}}))
        assert listed(labelSelector="team=a") == ["bench/sweep:0"]
        one = client.get("/api/v1/namespaces/bench/runs/again", headers=auth).json()
        assert (one["labels"], len(one["levels"])) == ({}, 2)
    service.calls.close()

    downgrade(engine, "0006")
    assert "labels" not in run_columns(engine)
    assert "run_labels" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM level_results")).scalar_one() == 4
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar_one() == 2


def rows_of(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of runs and level_results at the 0006 columns, in key order."""
    found = {}
    with engine.connect() as connection:
        for name, keys in (
            ("runs", ("loadtest_uid", "run_id")),
            ("level_results", ("loadtest_uid", "run_id", "level")),
        ):
            table = Table(name, MetaData(), autoload_with=connection)
            columns = [c for c in table.columns if c.name != "labels"]
            query = select(*columns).order_by(*(table.c[k] for k in keys))
            found[name] = [tuple(row) for row in connection.execute(query).all()]
    return found
