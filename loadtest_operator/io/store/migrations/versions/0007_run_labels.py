"""The LoadTests' labels: runs.labels (the label set as written, shown by the results service) and a
run_labels table, one row per (run, label key), indexed by (key, value), that a kubectl-style label
selector is matched against in SQL (EXISTS / NOT EXISTS per requirement, the same on SQLite and
PostgreSQL: no JSON operators). And ix_runs_started_at_key on runs (started_at, loadtest_uid, run_id):
the results service's list pages by that key (keyset), newest first, instead of by offset.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Only a nullable column and a new table are added: a run written before this revision keeps every value
and has no labels (a selector's `!key` and `key!=value` match it, `key` and `key=value` do not), until
the operator writes it again. The downgrade drops both; nothing else held the labels.

Written by hand with plain SQLAlchemy types, so this revision never changes when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# A label key is an optional DNS-subdomain prefix (253) and '/' and a name (63); a value is at most 63.
KEY_LENGTH, VALUE_LENGTH = 317, 63
INDEX = "ix_run_labels_key_value"
KEYSET_INDEX = "ix_runs_started_at_key"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("labels", JSON, nullable=True))
    op.create_table(
        "run_labels",
        sa.Column("loadtest_uid", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=KEY_LENGTH), nullable=False),
        sa.Column("value", sa.String(length=VALUE_LENGTH), nullable=False),
        sa.PrimaryKeyConstraint("loadtest_uid", "run_id", "key", name="pk_run_labels"),
        sa.ForeignKeyConstraint(
            ["loadtest_uid", "run_id"],
            ["runs.loadtest_uid", "runs.run_id"],
            name="fk_run_labels_run",
            ondelete="CASCADE",
        ),
    )
    op.create_index(INDEX, "run_labels", ["key", "value"])
    op.create_index(KEYSET_INDEX, "runs", ["started_at", "loadtest_uid", "run_id"])


def downgrade() -> None:
    op.drop_index(KEYSET_INDEX, table_name="runs")
    op.drop_index(INDEX, table_name="run_labels")
    op.drop_table("run_labels")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("labels")
