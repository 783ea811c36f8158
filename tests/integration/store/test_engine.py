"""Engine settings: what a database setting turns into, and migrations racing each other."""

import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from loadtest_operator.store import (
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


def test_concurrent_upgrades_on_postgresql(postgres_url: str) -> None:
    # Operator pods starting together all migrate; the advisory lock makes them take turns.
    engines: list[Engine] = [create_store_engine(postgres_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def migrate(engine: Engine) -> None:
        barrier.wait()
        try:
            upgrade(engine)
        except Exception as error:  # noqa: BLE001 - collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
    finally:
        for engine in engines:
            engine.dispose()
