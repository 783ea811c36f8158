"""recommendations: the CapacityRecommendation history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Written by hand with plain SQLAlchemy types, so this revision never changes when the models do.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("deployment", sa.String(length=253), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("peak", sa.Integer(), nullable=True),
        sa.Column("knee_level", sa.Integer(), nullable=True),
        sa.Column("replicas", sa.Integer(), nullable=True),
        sa.Column("total_gpus", sa.Integer(), nullable=True),
        sa.Column("cost_per_hour", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("ready_reason", sa.String(length=1024), nullable=True),
        sa.Column("children", _json(), nullable=False),
        sa.Column("measured", _json(), nullable=True),
        sa.Column("recommendation", _json(), nullable=True),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_recommendations"),
    )
    op.create_index("ix_recommendations_updated_at", "recommendations", ["updated_at"])
    op.create_index(
        "ix_recommendations_namespace_name_updated_at", "recommendations", ["namespace", "name", "updated_at"]
    )
    op.create_index("ix_recommendations_target_updated_at", "recommendations", ["target", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_recommendations_target_updated_at", table_name="recommendations")
    op.drop_index("ix_recommendations_namespace_name_updated_at", table_name="recommendations")
    op.drop_index("ix_recommendations_updated_at", table_name="recommendations")
    op.drop_table("recommendations")
