"""level_results: the sample count and standard deviation of TTFT, TPOT, ITL and E2E (what the results
service's compare tests a difference against: Welch's t-test), and the figures leaderboards rank by as
columns (GPUs measured, GPU energy per 1,000 generated tokens), with an index on the level.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Only nullable columns are added. Rows written before this revision have no count or spread (the operator
did not keep one): their compare says "no spread stored" instead of guessing. Their GPU figures are
copied from the row's `result` JSON (gpu.gpuCount, gpu.joulesPer1kOutputTokens), so a leaderboard ranks
old runs too. The downgrade drops the columns; the JSON keeps the figures it had.

Written by hand with plain SQLAlchemy types, so this revision never changes when the models do.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRICS = ("ttft", "tpot", "itl", "e2e")
COUNTS = [f"{m}_count" for m in METRICS]
SPREADS = [f"{m}_stddev_ms" for m in METRICS]
INDEX = "ix_level_results_level"
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("level_results") as batch:
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        for name in SPREADS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch.add_column(sa.Column("gpu_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("joules_per_1k_output_tokens", sa.Float(), nullable=True))
    op.create_index(INDEX, "level_results", ["level"])
    _copy_gpu_figures()


def _copy_gpu_figures() -> None:
    """gpu_count and joules_per_1k_output_tokens from each row's JSON, in batches (no JSON functions:
    SQLite's and PostgreSQL's differ)."""
    table = sa.table(
        "level_results",
        sa.column("loadtest_uid", sa.String()),
        sa.column("run_id", sa.Integer()),
        sa.column("level", sa.Integer()),
        sa.column("result", sa.JSON()),
        sa.column("gpu_count", sa.Integer()),
        sa.column("joules_per_1k_output_tokens", sa.Float()),
    )
    connection = op.get_bind()
    keys = (table.c.loadtest_uid, table.c.run_id, table.c.level)
    last: tuple[Any, ...] | None = None
    while True:
        statement = sa.select(*keys, table.c.result).order_by(*keys).limit(BATCH)
        if last is not None:
            statement = statement.where(sa.tuple_(*keys) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = connection.execute(statement).all()
        if not rows:
            return
        for uid, run_id, level, result in rows:
            gpu = _as_dict(result).get("gpu")
            gpu = gpu if isinstance(gpu, dict) else {}
            count, joules = gpu.get("gpuCount"), gpu.get("joulesPer1kOutputTokens")
            if isinstance(count, int) or isinstance(joules, int | float):
                connection.execute(
                    table.update()
                    .where(table.c.loadtest_uid == uid, table.c.run_id == run_id, table.c.level == level)
                    .values(
                        gpu_count=count if isinstance(count, int) else None,
                        joules_per_1k_output_tokens=float(joules)
                        if isinstance(joules, int | float)
                        else None,
                    )
                )
        last = tuple(rows[-1][:3])


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def downgrade() -> None:
    op.drop_index(INDEX, table_name="level_results")
    with op.batch_alter_table("level_results") as batch:
        batch.drop_column("joules_per_1k_output_tokens")
        batch.drop_column("gpu_count")
        for name in [*reversed(SPREADS), *reversed(COUNTS)]:
            batch.drop_column(name)
