"""The target's fingerprint and the checks against vLLM's figures: runs.vllm_version, runs.fingerprint,
runs.validation_checks, runs.validation_failed, level_results.validation_failed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Only nullable columns are added, so a run written before this revision simply has none (its summary JSON
holds no fingerprint either). Written by hand with plain SQLAlchemy types, so this revision never
changes when the models do; `fingerprint` is JSON on SQLite and JSONB on PostgreSQL, like the other
JSON columns (io/store/types.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("vllm_version", sa.Text(), nullable=True))
        batch.add_column(sa.Column("fingerprint", JSON, nullable=True))
        batch.add_column(sa.Column("validation_checks", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("validation_failed", sa.Integer(), nullable=True))
    with op.batch_alter_table("level_results") as batch:
        batch.add_column(sa.Column("validation_failed", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("level_results") as batch:
        batch.drop_column("validation_failed")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("validation_failed")
        batch.drop_column("validation_checks")
        batch.drop_column("fingerprint")
        batch.drop_column("vllm_version")
