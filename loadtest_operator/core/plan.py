"""What a pure plan asks the executor to do. Both kinds' plans speak this vocabulary, so one executor
(reconcile/executor.py) runs them: create and delete children, scale, write the store, write status,
post events, count outcomes."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    LevelResult,
    LoadTestSpec,
)


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Delete:
    """A child to delete, in the owner's namespace."""

    kind: str
    name: str


@dataclass(frozen=True)
class PatchData:
    """Merge `data` into a ConfigMap of the owner's namespace (the shards' start signals)."""

    name: str
    data: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Scale:
    """Set a Deployment's replicas (CapacityRecommendation with scaleDeployment only)."""

    deployment: str
    replicas: int
    current: int | None


@dataclass(frozen=True)
class RunRecord:
    """One LoadTest run as the SQL store keeps it. `levels=None` leaves stored levels alone."""

    uid: str
    namespace: str
    name: str
    spec: LoadTestSpec
    phase: str
    reason: str | None
    started_at: datetime
    finished_at: datetime | None
    updated_at: datetime
    model: str | None
    best_goodput_level: int | None
    summary: dict[str, Any]
    levels: tuple[LevelResult, ...] | None
    # metadata.labels, for the results service's label selectors (as sorted pairs: the record is hashable)
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ChildRun:
    """A child LoadTest and the key of its run in the store (its uid and runId)."""

    name: str
    loadtest_uid: str
    run_id: int
    level: int
    repeat: int


@dataclass(frozen=True)
class RecommendationRecord:
    """One CapacityRecommendation as the SQL store keeps it (upserted by uid)."""

    uid: str
    namespace: str
    name: str
    spec: CapacityRecommendationSpec
    status: CapacityRecommendationStatus
    children: tuple[ChildRun, ...]
    target: str
    ready_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoreFailure:
    """Why a store write did not land: the store was unreachable (retried), or it refused the record's
    values (`rejected`: the same record would be refused again)."""

    message: str
    rejected: bool = False


@dataclass(frozen=True)
class StoreWrite:
    """A store write, and, when the status reports on it, the status once the outcome is known:
    `settle(None)` after a successful write, `settle(failure)` when it did not land."""

    record: RunRecord | RecommendationRecord
    settle: Callable[[StoreFailure | None], BaseModel] | None = None


class InStore(StrEnum):
    """What the store says of a finished run, as the observer asks it (once per run per process: the
    store remembers what it wrote and what it found)."""

    STORED = "Stored"  # the store holds the run as finished
    MISSING = "Missing"  # the store lacks it, or holds it unfinished (a new or emptied store, a lost write)
    REJECTED = "Rejected"  # this process wrote it and the store refused the values
    UNKNOWN = "Unknown"  # the store could not be asked (unreachable, or backing off)


@dataclass(frozen=True)
class RunEnded:
    """A LoadTest run reached its end (counted by outcome; its levels become gauges)."""

    reason: str
    model: str
    levels: tuple[LevelResult, ...] = ()


@dataclass(frozen=True)
class Recommended:
    """A CapacityRecommendation holds a recommendation (a gauge of its replicas)."""

    deployment: str
    replicas: int


@dataclass(frozen=True)
class LiveLevel:
    """A running LoadTest's current level, this tick (the live gauges; a RunEnded removes them)."""

    level: int
    requests: int
    requests_per_second: float | None = None
    ttft_p50_seconds: float | None = None
    tpot_p50_seconds: float | None = None


Observation = RunEnded | Recommended | LiveLevel


@dataclass(frozen=True)
class Plan:
    """Everything one tick does. `status` is the whole wanted status; the executor writes only what
    differs from the status it read."""

    status: BaseModel
    create: tuple[dict[str, Any], ...] = ()
    delete: tuple[Delete, ...] = ()
    patch: tuple[PatchData, ...] = ()
    events: tuple[Event, ...] = ()
    store: StoreWrite | None = None
    scale: Scale | None = None
    observations: tuple[Observation, ...] = field(default=())
