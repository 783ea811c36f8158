"""level_results: every figure the load generator measures (p95, p99.9, Rate mode's from-send latency and
schedule lag, token-count checks, event-loop lag) and what the headline latency counts from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

From this revision on, a Rate-mode level's ttft_* and e2e_* columns count from the scheduled send time
(latency_from = ScheduledTime) and the from-send figures get their own columns. Rows written before it
counted from the send in every mode: the upgrade marks them latency_from = SendTime and, for Rate runs,
copies their figures into the from-send columns too, so a query over the from-send columns sees every
Rate run. Figures not promoted to a column stay in the row's `result` JSON, which holds the whole
per-level status object. The downgrade drops the new columns (the JSON keeps the figures).

Written by hand with plain SQLAlchemy types, so this revision never changes when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATS = ("p50", "p90", "p95", "p99", "p999", "mean")
NEW_PERCENTILES = [
    f"{metric}_{stat}_ms" for metric in ("ttft", "tpot", "itl", "e2e") for stat in ("p95", "p999")
]
FROM_SEND = [f"{metric}_from_send_{stat}_ms" for metric in ("ttft", "e2e") for stat in STATS]
SCHEDULE_LAG = [f"schedule_lag_{stat}_ms" for stat in STATS]
LOOP_LAG = ["loop_lag_p50_ms", "loop_lag_p99_ms", "loop_lag_max_ms"]
COUNTS = ["token_mismatches", "usage_missing"]
FLOATS = [*NEW_PERCENTILES, *FROM_SEND, *SCHEDULE_LAG, *LOOP_LAG]


def upgrade() -> None:
    with op.batch_alter_table("level_results") as batch:
        batch.add_column(sa.Column("latency_from", sa.String(length=32), nullable=True))
        for name in FLOATS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE level_results SET latency_from = 'SendTime'")
    copies = ", ".join(
        f"{metric}_from_send_{stat}_ms = {metric}_{stat}_ms"
        for metric in ("ttft", "e2e")
        for stat in ("p50", "p90", "p99", "mean")  # what rows before 0004 hold
    )
    op.execute(
        f"UPDATE level_results SET {copies} WHERE EXISTS (SELECT 1 FROM runs WHERE "
        "runs.loadtest_uid = level_results.loadtest_uid AND runs.run_id = level_results.run_id "
        "AND runs.mode = 'Rate')"
    )


def downgrade() -> None:
    with op.batch_alter_table("level_results") as batch:
        for name in [*COUNTS, *reversed(FLOATS), "latency_from"]:
            batch.drop_column(name)
