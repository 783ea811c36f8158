"""Operator settings from the environment (pydantic-settings), built once at start-up and kept in kopf's memo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_IMAGE = "localhost/llmload/llmload:dev"


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMLOAD_", extra="ignore")

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="namespaces to watch, comma-separated; empty = all"
    )
    operator_namespace: str = Field("default", description="where the operator itself runs")
    loadgen_image: str = Field(DEFAULT_IMAGE, description="image of the load-generator Jobs")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("LLMLOAD_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL (postgresql+psycopg://...); unset = SQLite at sqlite_path",
    )
    sqlite_path: Path = Field(Path("llmload.db"), description="SQLite file when no database_url is set")
    history_ephemeral: bool = Field(
        False, description="the SQLite file is on a volume that goes with the pod (the chart's emptyDir)"
    )
    store_timeout_seconds: float = Field(15.0, gt=0, description="deadline of one SQL store call")
    prometheus_url: str | None = Field(None, description="Prometheus base URL for GPU and vLLM series")
    reconcile_interval_seconds: float = Field(
        3.0, gt=0, description="how often unfinished runs are reconciled"
    )
    metrics_port: int = Field(9090, ge=0, le=65535, description="Prometheus metrics port; 0 = off")
    health_port: int = Field(8080, ge=0, le=65535, description="liveness endpoint port; 0 = off")
    unschedulable_grace_seconds: float = Field(
        60.0, ge=0, description="how long a shard pod may stay unschedulable before the run fails"
    )
    stalled_deadline_seconds: float = Field(
        600.0,
        ge=0,
        description="how long every reconcile of an object may fail before a running LoadTest ends "
        "(StalledTooLong) and a CapacityRecommendation's search stops; 0 = retry forever",
    )
    log_level: str = "INFO"

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()]
        return value

    @field_validator("prometheus_url", "database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"
