"""Alembic migrations on SQLite and PostgreSQL: up, down, up again, and in step with the models."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, Text, inspect, text
from sqlalchemy.engine import Engine

from loadtest_operator.io.store import (
    current_revision,
    downgrade,
    get_run,
    head_revision,
    list_runs,
    save_run,
    upgrade,
)
from loadtest_operator.io.store.migrate import MIGRATIONS_DIR
from loadtest_operator.io.store.models import LevelResultRow, Run
from loadtest_operator.io.store.records import fingerprint_columns
from tests.integration.store.test_repository import make_levels, make_run

pytestmark = pytest.mark.integration

TABLES = {"runs", "level_results", "recommendations", "run_labels"}


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_the_tables(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert tables(engine) == TABLES
    indexes = {index["name"] for index in inspect(engine).get_indexes("runs")}
    assert {"ix_runs_started_at", "ix_runs_model_started_at", "ix_runs_status_started_at"} <= indexes


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_down_and_up_again(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert tables(engine) == set()
    upgrade(engine)
    assert tables(engine) == TABLES


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    # Autogenerate's diff between the migrated database and the models: a model change without a new
    # revision shows up here.
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Run.metadata) == []


def test_sqlite_uses_wal_and_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_ship_as_package_data() -> None:
    # setuptools' packages.find only picks up directories with __init__.py; *.mako is package data.
    for directory in [MIGRATIONS_DIR, MIGRATIONS_DIR / "versions"]:
        assert (directory / "__init__.py").exists(), directory
    assert (MIGRATIONS_DIR / "env.py").exists()
    assert (MIGRATIONS_DIR / "script.py.mako").exists()
    revisions = [p for p in (MIGRATIONS_DIR / "versions").glob("*.py") if p.name != "__init__.py"]
    assert revisions, "no revisions"
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert '"*.mako"' in pyproject


def test_recommendations_revision_follows_the_first(engine: Engine) -> None:
    # 0002 only adds the recommendations table: going back to 0001 leaves the run history alone.
    upgrade(engine, "0001")
    assert tables(engine) == {"runs", "level_results"}
    upgrade(engine, "0002")
    assert current_revision(engine) == "0002"
    indexes = {index["name"] for index in inspect(engine).get_indexes("recommendations")}
    assert {"ix_recommendations_updated_at", "ix_recommendations_namespace_name_updated_at"} <= indexes
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert tables(engine) == {"runs", "level_results"}


WIDENED = {"runs": {"target", "model", "reason"}, "recommendations": {"target", "ready_reason"}}


def text_columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table) if isinstance(c["type"], Text)}


def level_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM level_results")).scalar_one())


def save_old(engine: Engine, run: Run, levels: Sequence[LevelResultRow] = ()) -> None:
    """Rows written at an older revision: only the columns its tables have (today's models have more)."""
    metadata = MetaData()
    with engine.begin() as connection:
        for row in [run, *levels]:
            name = type(row).__table__.name  # type: ignore[attr-defined]
            table = Table(name, metadata, autoload_with=connection)
            connection.execute(table.insert().values({c.name: getattr(row, c.name) for c in table.columns}))


def stored_reason(engine: Engine, uid: str) -> str | None:
    with engine.connect() as connection:
        query = text("SELECT reason FROM runs WHERE loadtest_uid = :uid")
        value = connection.execute(query, {"uid": uid}).scalar_one()
        return None if value is None else str(value)


def test_free_text_revision_widens_columns_and_keeps_every_row(engine: Engine) -> None:
    # 0003 rebuilds `runs` on SQLite: its level_results (ON DELETE CASCADE) must survive the rebuild.
    upgrade(engine, "0002")
    save_old(engine, make_run("uid-1"), make_levels("uid-1"))
    save_old(engine, make_run("uid-2", model="llama"), make_levels("uid-2", levels=(1, 2)))
    assert level_count(engine) == 5

    upgrade(engine, "0003")
    assert current_revision(engine) == "0003"
    for table, columns in WIDENED.items():
        assert columns <= text_columns(engine, table)
    assert level_count(engine) == 5
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert level_count(engine) == 5
    assert sorted(r.loadtest_uid for r in list_runs(engine)) == ["uid-1", "uid-2"]
    indexes = {index["name"] for index in inspect(engine).get_indexes("runs")}
    assert {"ix_runs_started_at", "ix_runs_model_started_at", "ix_runs_target_started_at"} <= indexes
    if engine.dialect.name == "sqlite":  # foreign keys are on again for the operator's connections
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    long_reason = "CriteriaNotMet " + "x" * 3000
    save_old(engine, make_run("uid-3", status="Failed").model_copy(update={"reason": long_reason}))

    downgrade(engine, "0002")  # longer values are cut to the old lengths, not refused
    assert level_count(engine) == 5
    assert not WIDENED["runs"] & text_columns(engine, "runs")
    reason = stored_reason(engine, "uid-3")
    assert reason is not None
    if engine.dialect.name == "postgresql":
        assert len(reason) == 1024
    upgrade(engine)
    assert level_count(engine) == 5


FIGURE_COLUMNS = {
    "latency_from", "ttft_p95_ms", "ttft_p999_ms", "tpot_p95_ms", "itl_p999_ms", "e2e_p999_ms",
    "ttft_from_send_p50_ms", "ttft_from_send_p999_ms", "e2e_from_send_mean_ms", "schedule_lag_p99_ms",
    "schedule_lag_mean_ms", "token_mismatches", "usage_missing", "loop_lag_p50_ms", "loop_lag_p99_ms",
    "loop_lag_max_ms",
}  # fmt: skip


def level_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("level_results")}


def rows_at_0004(engine: Engine, uid: str) -> list[Any]:
    """Level rows as 0004 has them, by plain SQL (today's models have columns later revisions add)."""
    with engine.connect() as connection:
        table = Table("level_results", MetaData(), autoload_with=connection)
        return list(connection.execute(table.select().where(table.c.loadtest_uid == uid)).all())


def test_level_figures_revision_adds_columns_and_marks_older_rows(engine: Engine) -> None:
    upgrade(engine, "0003")
    save_old(engine, make_run("uid-c"), make_levels("uid-c"))
    save_old(engine, make_run("uid-r").model_copy(update={"mode": "Rate"}), make_levels("uid-r", levels=(2,)))

    upgrade(engine, "0004")
    assert current_revision(engine) == "0004"
    assert level_columns(engine) >= FIGURE_COLUMNS
    assert level_count(engine) == 4
    # Rows from before 0004 counted latency from the send in every mode; Rate rows get it in the
    # from-send columns as well. The counts read 0, not NULL.
    (rate,) = rows_at_0004(engine, "uid-r")
    assert rate.latency_from == "SendTime"
    assert rate.ttft_p99_ms == rate.ttft_from_send_p99_ms == pytest.approx(380.0)
    assert rate.ttft_from_send_mean_ms == pytest.approx(220.0)
    assert rate.ttft_from_send_p999_ms is None  # never measured before 0004
    assert (rate.token_mismatches, rate.usage_missing) == (0, 0)
    concurrency = rows_at_0004(engine, "uid-c")
    assert {row.latency_from for row in concurrency} == {"SendTime"}
    assert {row.ttft_from_send_p99_ms for row in concurrency} == {None}

    downgrade(engine, "0003")  # the JSON keeps every figure; the columns go
    assert not FIGURE_COLUMNS & level_columns(engine)
    assert level_count(engine) == 4
    upgrade(engine)
    assert level_columns(engine) >= FIGURE_COLUMNS
    assert level_count(engine) == 4


FINGERPRINT_COLUMNS = {"vllm_version", "fingerprint", "validation_checks", "validation_failed"}


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_fingerprint_revision_adds_columns_and_keeps_every_row(engine: Engine) -> None:
    # 0005 adds nullable columns: older runs keep every value and read back with the new columns empty.
    upgrade(engine, "0003")
    save_old(engine, make_run("uid-1"), make_levels("uid-1"))
    upgrade(engine, "0005")
    assert columns(engine, "runs") >= FINGERPRINT_COLUMNS
    upgrade(engine)  # today's models write every later revision's columns too
    assert "validation_failed" in columns(engine, "level_results")
    assert level_count(engine) == 3
    old = get_run(engine, "uid-1", 0)
    assert old is not None
    assert (old.vllm_version, old.fingerprint, old.validation_failed) == (
        None,
        None,
        None,
    )

    summary = {
        "fingerprint": {"vllmVersion": "0.9.1", "driverVersions": ["550.54.15"]},
        "validation": {"tolerancePercent": 5, "checks": 10, "failed": 2},
    }
    save_run(engine, make_run("uid-2").model_copy(update=fingerprint_columns(summary)), make_levels("uid-2"))
    new = get_run(engine, "uid-2", 0)
    assert new is not None
    assert (new.vllm_version, new.validation_checks, new.validation_failed) == ("0.9.1", 10, 2)
    assert new.fingerprint == summary["fingerprint"]

    downgrade(engine, "0003")
    assert not FINGERPRINT_COLUMNS & columns(engine, "runs")
    assert "validation_failed" not in columns(engine, "level_results")
    assert level_count(engine) == 6
    upgrade(engine)
    assert level_count(engine) == 6
