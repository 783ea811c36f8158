"""Engine settings: what a database setting turns into, and migrations racing each other."""

import multiprocessing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from loadtest_operator.io.store import (
    create_store_engine,
    current_revision,
    database_url,
    head_revision,
    upgrade,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("/var/lib/llmload/history.db", "sqlite:////var/lib/llmload/history.db"),
        ("sqlite:////data/x.db", "sqlite:////data/x.db"),
        ("postgresql://u:p@db:5432/llmload", "postgresql+psycopg://u:p@db:5432/llmload"),
        ("postgres://u@db/llmload", "postgresql+psycopg://u@db/llmload"),
        ("postgresql+psycopg://u@db/llmload", "postgresql+psycopg://u@db/llmload"),
    ],
)
def test_database_url(setting: str, url: str) -> None:
    assert database_url(setting) == url


def test_relative_sqlite_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url("history.db") == f"sqlite:///{tmp_path / 'history.db'}"


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_store_engine("mysql://db/llmload")


def _upgrade_in_process(url: str, barrier: BarrierType, results: "Queue[str]") -> None:
    # lock_timeout turns a regression (no lock: sessions block each other) into a prompt failure.
    engine = create_engine(url, connect_args={"options": "-c lock_timeout=10s"})
    barrier.wait()
    try:
        upgrade(engine)
        results.put("ok")
    except Exception as error:  # noqa: BLE001 - reported to the test through the queue
        results.put(f"{type(error).__name__}: {error}")
    finally:
        engine.dispose()


def test_concurrent_upgrades_on_postgresql(postgres_url: str) -> None:
    # Operator pods starting together all migrate; the advisory lock makes them take turns. Separate
    # processes, like separate pods: Alembic keeps its migration context in module globals, so threads
    # would not show what pods do.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results: Queue[str] = context.Queue()
    processes = [
        context.Process(target=_upgrade_in_process, args=(postgres_url, barrier, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert outcomes == ["ok"] * 4
    engine = create_store_engine(postgres_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
