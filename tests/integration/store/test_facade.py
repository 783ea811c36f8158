"""The store as the operator calls it (`Store`): its own thread pool, a deadline per call, back-off after
failures, migrations retried until the database is there, refused values told apart from an unreachable
database, and the "is this finished run stored?" question answered from memory after the first time."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from loadtest_operator.core.plan import InStore, RunRecord
from loadtest_operator.io.store import (
    Store,
    StoreCalls,
    StoreRejectedError,
    StoreUnavailableError,
    create_store_engine,
    current_revision,
    downgrade,
    get_run,
    head_revision,
    upgrade,
)
from loadtest_operator.main import open_store
from loadtest_operator.reconcile.settings import OperatorSettings
from tests.integration.store.test_repository import SPEC

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(uid: str = "uid-1", **changes: Any) -> RunRecord:
    finished = RunRecord(
        uid=uid,
        namespace="bench",
        name="sweep",
        spec=SPEC,
        phase="Succeeded",
        reason="Completed",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=5),
        updated_at=T0 + timedelta(minutes=5),
        model="llama-3-8b",
        best_goodput_level=None,
        summary={"summary": "3 levels"},
        levels=(),
    )
    return replace(finished, **changes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store_on(engine: Engine, clock: Clock, timeout: float = 5.0) -> Store:
    return Store(engine, StoreCalls(timeout=timeout, clock=clock))


@pytest.fixture
def store(engine: Engine, clock: Clock) -> Iterator[Store]:
    s = store_on(engine, clock)
    try:
        yield s
    finally:
        s.calls.close()


def test_store_calls_run_on_the_stores_own_pool(store: Store) -> None:
    name = asyncio.run(store.calls.run(lambda: threading.current_thread().name))

    assert name.startswith("llmload-store")
    assert name != threading.current_thread().name


def test_the_first_write_migrates(store: Store, engine: Engine) -> None:
    assert current_revision(engine) is None

    asyncio.run(store.write(record()))

    assert current_revision(engine) == head_revision()
    assert get_run(engine, "uid-1", 0) is not None


def test_a_database_down_at_start_is_migrated_and_written_once_it_is_back(
    tmp_path: Path, clock: Clock
) -> None:
    # The SQLite file's directory cannot be created yet (a file is in its way, as a volume not mounted
    # yet would be): migrating at start-up fails, and so does every write until the path is usable.
    blocker = tmp_path / "history"
    blocker.write_text("not a directory")
    engine = create_store_engine(str(blocker / "llmload.db"))
    store = store_on(engine, clock)
    try:
        with pytest.raises(StoreUnavailableError, match="unable to open database file"):
            store.migrate()
        with pytest.raises(StoreUnavailableError, match="retrying after 1s"):
            asyncio.run(store.write(record()))  # backing off: not even tried
        assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.UNKNOWN
        clock.now += 1
        with pytest.raises(StoreUnavailableError, match="unable to open database file"):
            asyncio.run(store.write(record()))  # tried after the back-off: still down, back-off doubles
        with pytest.raises(StoreUnavailableError, match="retrying after 2s"):
            asyncio.run(store.write(record()))

        blocker.unlink()  # the path becomes usable
        clock.now += 2
        asyncio.run(store.write(record()))

        assert current_revision(engine) == head_revision()
        assert get_run(engine, "uid-1", 0) is not None
        assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED
    finally:
        store.close()


def test_a_stuck_database_call_fails_after_its_deadline(sqlite_engine: Engine, clock: Clock) -> None:
    store = store_on(sqlite_engine, clock, timeout=0.3)
    store.migrate()
    database = sqlite_engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the file: the write waits for the lock
    try:
        elapsed = asyncio.run(_fails_in(store.write(record()), "no answer from the database within 0.3s"))
        assert elapsed < 3  # SQLite alone would have waited its 5 s busy timeout
        with pytest.raises(StoreUnavailableError, match="retrying after 1s"):
            asyncio.run(store.write(record()))  # the next one does not queue behind the stuck one
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    clock.now += 1
    asyncio.run(store.write(record()))
    assert get_run(sqlite_engine, "uid-1", 0) is not None
    store.close()


async def _fails_in(call: Any, message: str) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(StoreUnavailableError, match=message):
        await call
    return loop.time() - start


def test_refused_values_are_rejected_without_backing_off(store: Store, engine: Engine) -> None:
    naive = record(started_at=datetime(2026, 12, 2, 9, 0))  # no timezone: the column refuses it

    with pytest.raises(StoreRejectedError, match="naive datetime"):
        asyncio.run(store.write(naive))

    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.REJECTED
    asyncio.run(store.write(record("uid-2")))  # the database is fine: other records go through at once
    asyncio.run(store.write(record()))  # and the same run, once its values are
    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED


def test_a_nul_in_a_model_name_is_rejected_by_postgresql(postgres_url: str, clock: Clock) -> None:
    engine = create_store_engine(postgres_url)
    store = store_on(engine, clock)
    try:
        with pytest.raises(StoreRejectedError, match="NUL"):
            asyncio.run(store.write(record(model="llama\x00")))
        long_model = "org/" + "m" * 5000  # longer than the old VARCHAR(512): stored, cut in its column
        asyncio.run(store.write(record("uid-2", model=long_model)))
        stored = get_run(engine, "uid-2", 0)
        assert stored is not None
        assert stored.model is not None
        assert stored.model.endswith("…[truncated]")
        assert len(stored.model.encode()) <= 1024
    finally:
        store.close()


def test_a_finished_run_is_looked_up_once_per_process(store: Store, engine: Engine, clock: Clock) -> None:
    writer = store_on(engine, clock)  # another process wrote it (the operator before its restart)
    asyncio.run(writer.write(record()))
    asyncio.run(writer.write(record("uid-running", phase="Running", finished_at=None, levels=None)))
    writer.calls.close()
    store.migrate()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED
    assert len(statements) == 1  # one read by primary key
    for _ in range(5):
        assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED
    assert len(statements) == 1  # then from memory
    assert asyncio.run(store.run_in_store("uid-running", 0)) is InStore.MISSING  # not final: written again
    assert asyncio.run(store.run_in_store("uid-new", 0)) is InStore.MISSING
    store.forget("uid-1")
    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED
    assert len(statements) == 4


def test_an_emptied_database_is_migrated_again_and_its_runs_rewritten(
    store: Store, engine: Engine, clock: Clock
) -> None:
    asyncio.run(store.write(record()))
    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED
    assert store.empty_databases == 1  # the new database the first write migrated
    downgrade(engine, "base")  # the database is replaced by an empty one while the operator runs

    with pytest.raises(StoreUnavailableError):
        asyncio.run(store.write(record("uid-2")))
    clock.now += 1

    # The next call migrates the empty database, and forgets what the old one held.
    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.MISSING
    assert current_revision(engine) == head_revision()
    assert store.empty_databases == 2  # the executor writes again what it wrote to the old one
    upgrade(engine)  # idempotent


def test_start_up_says_when_history_is_ephemeral_and_survives_a_database_that_is_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "history").write_text("not a directory")  # the database cannot be opened yet
    settings = OperatorSettings(sqlite_path=tmp_path / "history" / "llmload.db", history_ephemeral=True)

    with caplog.at_level(logging.INFO, logger="test"):
        store = open_store(settings, logging.getLogger("test"))
    store.close()

    text = caplog.text
    assert "the run history is EPHEMERAL" in text
    assert "persistence.enabled=true" in text
    assert "SQL store not reachable at start-up" in text
