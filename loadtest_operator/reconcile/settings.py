"""Operator settings from the environment (pydantic-settings), built once at start-up and kept in kopf's memo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    barrier_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="how long the shards of a run may wait for each other at a level's start before the "
        "run fails (ShardsNotReady)",
    )
    stalled_deadline_seconds: float = Field(
        600.0,
        ge=0,
        description="how long every reconcile of an object may fail before a running LoadTest ends "
        "(StalledTooLong) and a CapacityRecommendation's search stops; 0 = retry forever",
    )
    log_level: str = "INFO"
    # -- multi-tenant safety (docs/security.md) --
    admission_webhook: bool = Field(
        False,
        description="an admission webhook reviews every author's rights (SubjectAccessReview); without "
        "it, Secrets and Deployments are used only when they carry llmload.io/allow-loadtest=true",
    )
    webhook_configuration: str | None = Field(
        None,
        description="the ValidatingWebhookConfiguration that sends this operator's objects to its webhook "
        "(the chart sets it): an object it did not cover since the object's creation counts as never "
        "reviewed, and its Secrets and Deployments must opt in",
    )
    webhook_port: int = Field(0, ge=0, le=65535, description="serve the admission webhook here; 0 = off")
    webhook_address: str = Field("0.0.0.0", description="address the webhook listens on")
    webhook_cert_file: Path | None = Field(None, description="TLS certificate of the webhook (PEM)")
    webhook_key_file: Path | None = Field(None, description="its private key (PEM)")
    allowed_images: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="images spec.loadGenerator.image may name, comma-separated (a trailing * is a "
        "prefix); empty = only the operator's own loadgen_image",
    )
    trusted_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="usernames whose requests the webhook does not review (the operator's own "
        "ServiceAccount: it creates a CapacityRecommendation's child LoadTests from a reviewed spec)",
    )
    read_secrets: bool = Field(
        True,
        description="the operator may get Secrets (the chart's RBAC): to read a Prometheus bearer token "
        "and check referenced keys; false = it never reads one",
    )
    refused_fetch_ranges: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["169.254.0.0/16", "fe80::/10"],
        description="address ranges the operator never fetches from (the API server's own addresses "
        "are added at start-up), comma-separated",
    )
    prometheus_bearer_token: SecretStr | None = Field(
        None, description="bearer token for prometheus_url (the chart passes it from a Secret)"
    )
    prometheus_max_bytes: int = Field(
        16 << 20,
        gt=0,
        description="the most bytes of one Prometheus answer the operator reads; a larger answer is a "
        "PrometheusAnswerTooLarge failure of that query",
    )
    allowed_prometheus_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Prometheus URLs a spec may name besides prometheus_url, comma-separated",
    )

    @field_validator(
        "namespaces",
        "allowed_images",
        "trusted_users",
        "refused_fetch_ranges",
        "allowed_prometheus_urls",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()]
        return value

    @field_validator(
        "prometheus_url", "database_url", "prometheus_bearer_token", "webhook_configuration", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def image_allow_list(self) -> list[str]:
        return self.allowed_images or [self.loadgen_image]

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"
