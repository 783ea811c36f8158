"""runs and level_results: the first tables of the run history.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written by hand with plain SQLAlchemy types, so this revision never changes when the models do.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _latency_columns() -> list[sa.Column[float]]:
    return [
        sa.Column(f"{metric}_{stat}_ms", sa.Float(), nullable=True)
        for metric in ("ttft", "tpot", "itl", "e2e")
        for stat in ("p50", "p90", "p99", "mean")
    ]


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("loadtest_uid", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=True),
        sa.Column("api", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("best_goodput_level", sa.Integer(), nullable=True),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("loadtest_uid", "run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_status_started_at", "runs", ["status", "started_at"])
    op.create_index("ix_runs_model_started_at", "runs", ["model", "started_at"])
    op.create_index("ix_runs_target_started_at", "runs", ["target", "started_at"])
    op.create_index("ix_runs_namespace_name_started_at", "runs", ["namespace", "name", "started_at"])

    op.create_table(
        "level_results",
        sa.Column("loadtest_uid", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("requests_per_second", sa.Float(), nullable=False),
        sa.Column("output_tokens_per_second", sa.Float(), nullable=False),
        sa.Column("total_tokens_per_second", sa.Float(), nullable=False),
        *_latency_columns(),
        sa.Column("goodput_count", sa.Integer(), nullable=True),
        sa.Column("goodput_per_second", sa.Float(), nullable=True),
        sa.Column("goodput_percent", sa.Float(), nullable=True),
        sa.Column("within_slo", sa.Boolean(), nullable=True),
        sa.Column("client_saturated", sa.Boolean(), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("result", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loadtest_uid", "run_id"],
            ["runs.loadtest_uid", "runs.run_id"],
            name="fk_level_results_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("loadtest_uid", "run_id", "level", name="pk_level_results"),
    )


def downgrade() -> None:
    op.drop_table("level_results")
    op.drop_index("ix_runs_namespace_name_started_at", table_name="runs")
    op.drop_index("ix_runs_target_started_at", table_name="runs")
    op.drop_index("ix_runs_model_started_at", table_name="runs")
    op.drop_index("ix_runs_status_started_at", table_name="runs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_table("runs")
