"""Engines for the store: a SQLite file by default, PostgreSQL (psycopg 3) when given its URL."""

import contextlib
import functools
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

# Waiting this long for a lock beats failing: the operator is the only writer, but readers (Grafana's
# SQLite datasource, a person with sqlite3) can hold the file briefly.
SQLITE_BUSY_TIMEOUT_MS = 5_000
PG_CONNECT_TIMEOUT_S = 10


def database_url(value: str) -> str:
    """A SQLAlchemy URL from a setting that is either a URL or a SQLite file path.

    postgresql:// and postgres:// URLs are pinned to the psycopg 3 driver, the one the project ships.
    """
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    scheme, rest = value.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return value


def create_store_engine(url_or_path: str) -> Engine:
    """An engine for the store; SQLite files get WAL, foreign keys and a busy timeout on every connection."""
    url = make_url(database_url(url_or_path))
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        if url.database and url.database != ":memory:":
            # On every connection attempt, not once: a directory that cannot be created at start-up (a
            # volume not mounted yet) is created by the first attempt after it can be.
            event.listen(engine, "do_connect", functools.partial(_make_parent, Path(url.database)))
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    if url.get_backend_name() == "postgresql":
        # pre_ping: a PostgreSQL restart must not turn the next write into an error. connect_timeout: an
        # unreachable server fails a connection attempt instead of holding a store worker.
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    raise ValueError(
        f"unsupported database {url.get_backend_name()!r}: use a SQLite path or postgresql:// URL"
    )


def _make_parent(database: Path, *_: Any) -> None:
    # When it cannot be made, sqlite3 says "unable to open database file": the store is unavailable and
    # the call is retried after the back-off.
    with contextlib.suppress(OSError):
        database.parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (dashboards) read while the operator writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
