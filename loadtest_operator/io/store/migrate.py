"""Schema migrations, run from code: no alembic.ini on disk.

    upgrade(engine)             # at operator start: bring the schema to head
    downgrade(engine, "base")   # tests, or a rollback

The revisions ship inside the package (migrations/), so an installed wheel can migrate.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations. With `engine`, its URL is recorded for
    offline use; migrations themselves run on a connection passed in `attributes`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        # ConfigParser interpolation treats % specially; URL-encoded passwords contain it.
        url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
        config.set_main_option("sqlalchemy.url", url)
    return config


# Any constant shared by every process that migrates this database; "llmload" in ASCII.
_MIGRATION_LOCK_ID = 0x6C6C6D6C6F6164


def _serialize_migrations(connection: Connection) -> None:
    """Two operator pods starting at once must not both create the tables: on PostgreSQL, hold an
    advisory lock for the migration's transaction. (SQLite locks the whole file on the first write.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to `revision` in one transaction (where the database allows DDL in one)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        _serialize_migrations(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to `revision` ("base" drops every table)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        _serialize_migrations(connection)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
