"""Tables of the run history. Changing them needs a new Alembic revision in migrations/versions/.

Columns with a length hold Kubernetes names and uids (bounded by Kubernetes) and the operator's own enum
values; free text (targets, models, reasons) is unbounded Text, and records.py caps what goes into an
indexed column (a btree entry has a size limit) with a marker, the whole value staying in the JSON."""

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKeyConstraint, Index, Text
from sqlmodel import Field, SQLModel

from loadtest_operator.io.store.types import JsonType, UtcDateTime


class Run(SQLModel, table=True):
    """One run of one LoadTest, keyed by the LoadTest's uid and spec.runId (so a retried write updates
    the same row, and a LoadTest re-created under the same name starts a new history entry)."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_started_at", "started_at"),
        Index("ix_runs_started_at_key", "started_at", "loadtest_uid", "run_id"),  # keyset pages (0007)
        Index("ix_runs_status_started_at", "status", "started_at"),
        Index("ix_runs_model_started_at", "model", "started_at"),
        Index("ix_runs_target_started_at", "target", "started_at"),
        Index("ix_runs_namespace_name_started_at", "namespace", "name", "started_at"),
    )

    loadtest_uid: str = Field(primary_key=True, max_length=64)
    run_id: int = Field(primary_key=True)
    namespace: str = Field(max_length=253)
    name: str = Field(max_length=253)
    # Free text from the spec, the server or the operator: no length a value could outgrow (0003).
    target: str = Field(
        sa_column=Column(Text, nullable=False), description="service/<name>:<port> or the URL"
    )
    model: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    api: str = Field(max_length=32)
    mode: str = Field(max_length=32)
    status: str = Field(max_length=32, description="Running, Succeeded or Failed")
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    best_goodput_level: int | None = None
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    # What the target was (status.fingerprint) and how the client's figures agreed with vLLM's (0005).
    vllm_version: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fingerprint: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    validation_checks: int | None = None
    validation_failed: int | None = None
    # The LoadTest's labels when the run was last written (0007); run_labels holds them for selectors.
    labels: dict[str, str] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))


class RunLabelRow(SQLModel, table=True):
    """One label of one run: what `labelSelector=` is matched against (EXISTS per requirement), indexed by
    (key, value). Written with the run, replaced whole on every write (0007)."""

    __tablename__ = "run_labels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["loadtest_uid", "run_id"],
            ["runs.loadtest_uid", "runs.run_id"],
            name="fk_run_labels_run",
            ondelete="CASCADE",
        ),
        Index("ix_run_labels_key_value", "key", "value"),
    )

    loadtest_uid: str = Field(primary_key=True, max_length=64)
    run_id: int = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=317, description="[prefix/]name")
    value: str = Field(max_length=63)


class LevelResultRow(SQLModel, table=True):
    """Merged results of one load level of one run. The figures are columns so history queries can filter
    and plot them; `result` keeps the full LevelResult as written to status (errors by kind, saturation
    reasons, GPU figures, and any figure added later without a migration)."""

    __tablename__ = "level_results"
    __table_args__ = (
        ForeignKeyConstraint(
            ["loadtest_uid", "run_id"],
            ["runs.loadtest_uid", "runs.run_id"],
            name="fk_level_results_run",
            ondelete="CASCADE",
        ),
        Index("ix_level_results_level", "level"),
    )

    loadtest_uid: str = Field(primary_key=True, max_length=64)
    run_id: int = Field(primary_key=True)
    level: int = Field(primary_key=True)
    requests: int
    successes: int
    errors: int
    requests_per_second: float
    output_tokens_per_second: float
    total_tokens_per_second: float
    # The headline latencies: from the scheduled send time when latency_from is ScheduledTime (Rate mode,
    # from 0004 on), from the send otherwise (every row written before 0004).
    latency_from: str | None = Field(default=None, max_length=32, description="ScheduledTime or SendTime")
    ttft_p50_ms: float | None = None
    ttft_p90_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    ttft_p999_ms: float | None = None
    ttft_mean_ms: float | None = None
    tpot_p50_ms: float | None = None
    tpot_p90_ms: float | None = None
    tpot_p95_ms: float | None = None
    tpot_p99_ms: float | None = None
    tpot_p999_ms: float | None = None
    tpot_mean_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p90_ms: float | None = None
    itl_p95_ms: float | None = None
    itl_p99_ms: float | None = None
    itl_p999_ms: float | None = None
    itl_mean_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p90_ms: float | None = None
    e2e_p95_ms: float | None = None
    e2e_p99_ms: float | None = None
    e2e_p999_ms: float | None = None
    e2e_mean_ms: float | None = None
    # Rate mode only: latency from the send, and how late the sends were (0004).
    ttft_from_send_p50_ms: float | None = None
    ttft_from_send_p90_ms: float | None = None
    ttft_from_send_p95_ms: float | None = None
    ttft_from_send_p99_ms: float | None = None
    ttft_from_send_p999_ms: float | None = None
    ttft_from_send_mean_ms: float | None = None
    e2e_from_send_p50_ms: float | None = None
    e2e_from_send_p90_ms: float | None = None
    e2e_from_send_p95_ms: float | None = None
    e2e_from_send_p99_ms: float | None = None
    e2e_from_send_p999_ms: float | None = None
    e2e_from_send_mean_ms: float | None = None
    schedule_lag_p50_ms: float | None = None
    schedule_lag_p90_ms: float | None = None
    schedule_lag_p95_ms: float | None = None
    schedule_lag_p99_ms: float | None = None
    schedule_lag_p999_ms: float | None = None
    schedule_lag_mean_ms: float | None = None
    token_mismatches: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    usage_missing: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    loop_lag_p50_ms: float | None = None
    loop_lag_p99_ms: float | None = None
    loop_lag_max_ms: float | None = None
    goodput_count: int | None = None
    goodput_per_second: float | None = None
    goodput_percent: float | None = None
    within_slo: bool | None = None
    client_saturated: bool = False
    started_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    result: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    validation_failed: int | None = None  # checks against vLLM's figures that failed (0005)
    # Samples and spread of the headline latencies: what compare's Welch's t-test needs (0006).
    ttft_count: int | None = None
    tpot_count: int | None = None
    itl_count: int | None = None
    e2e_count: int | None = None
    ttft_stddev_ms: float | None = None
    tpot_stddev_ms: float | None = None
    itl_stddev_ms: float | None = None
    e2e_stddev_ms: float | None = None
    # What leaderboards rank by (0006): GPUs measured in the level, GPU energy per 1,000 generated tokens.
    gpu_count: int | None = None
    joules_per_1k_output_tokens: float | None = None


class RecommendationRow(SQLModel, table=True):
    """The latest state of one CapacityRecommendation, keyed by its uid (a retried write updates the same
    row). `children` lists its child LoadTests with their uids and runIds, which key their runs in `runs`;
    `recommendation` and `measured` keep the status objects whole."""

    __tablename__ = "recommendations"
    __table_args__ = (
        Index("ix_recommendations_updated_at", "updated_at"),
        Index("ix_recommendations_namespace_name_updated_at", "namespace", "name", "updated_at"),
        Index("ix_recommendations_target_updated_at", "target", "updated_at"),
    )

    uid: str = Field(primary_key=True, max_length=64)
    namespace: str = Field(max_length=253)
    name: str = Field(max_length=253)
    target: str = Field(
        sa_column=Column(Text, nullable=False), description="service/<name>:<port> or the URL"
    )
    deployment: str = Field(max_length=253)
    mode: str | None = Field(default=None, max_length=32, description="Concurrency or Rate")
    peak: int | None = None
    knee_level: int | None = None
    replicas: int | None = None
    total_gpus: int | None = None
    cost_per_hour: str | None = Field(default=None, max_length=32, description="decimal string")
    currency: str | None = Field(default=None, max_length=3)
    ready_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    children: list[dict[str, Any]] = Field(sa_column=Column(JsonType, nullable=False))
    measured: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    recommendation: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
