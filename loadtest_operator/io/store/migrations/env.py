"""Alembic environment: runs migrations on the connection `loadtest_operator.io.store.migrate` passes in,
or on the configured URL when invoked another way (offline SQL generation for a DBA)."""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from loadtest_operator.io.store.models import Run

# Every table model registers on SQLModel's one shared MetaData; importing models fills it.
target_metadata = Run.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no connection and no sqlalchemy.url given to the migrations")
    with create_engine(url).begin() as new_connection:
        _run(new_connection)


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
