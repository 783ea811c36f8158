"""Free text as Text: targets, models and reasons have no length a value could outgrow.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A model name from /v1/models longer than VARCHAR(512) made PostgreSQL refuse the whole run. Kubernetes
names and uids and the operator's enum values keep their lengths. On PostgreSQL VARCHAR(n) -> TEXT is a
catalog change (no rewrite); SQLite rebuilds the tables (batch mode), with foreign keys off meanwhile
(migrate.py) so rebuilding `runs` does not cascade into `level_results`. The downgrade cuts longer values
to the old lengths instead of failing.

Written by hand with plain SQLAlchemy types, so this revision never changes when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (column, old length, nullable)
WIDENED: dict[str, list[tuple[str, int, bool]]] = {
    "runs": [("target", 2048, False), ("model", 512, True), ("reason", 1024, True)],
    "recommendations": [("target", 2048, False), ("ready_reason", 1024, True)],
}


def upgrade() -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column, length, nullable in columns:
                batch.alter_column(
                    column,
                    existing_type=sa.String(length=length),
                    type_=sa.Text(),
                    existing_nullable=nullable,
                )


def downgrade() -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column, length, nullable in columns:
                batch.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=sa.String(length=length),
                    existing_nullable=nullable,
                    postgresql_using=f"left({column}, {length})",
                )
