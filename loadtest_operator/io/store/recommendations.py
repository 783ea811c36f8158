"""The CapacityRecommendation history: one row per recommendation uid, upserted on every status change
worth keeping (a retry or a restarted operator updates the same row)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import desc
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loadtest_operator.api import CapacityRecommendationSpec, CapacityRecommendationStatus
from loadtest_operator.core.plan import ChildRun
from loadtest_operator.io.store.models import RecommendationRow
from loadtest_operator.io.store.records import indexable
from loadtest_operator.io.store.repository import upsert


def recommendation_row(
    *,
    uid: str,
    namespace: str,
    name: str,
    spec: CapacityRecommendationSpec,
    status: CapacityRecommendationStatus,
    children: Sequence[ChildRun],
    target: str,
    ready_reason: str | None,
    created_at: datetime,
    updated_at: datetime,
) -> RecommendationRow:
    recommendation = status.recommendation
    workload = status.workload
    return RecommendationRow(
        uid=uid,
        namespace=namespace,
        name=name,
        target=indexable(target),
        deployment=spec.target.deployment_ref.name,
        mode=workload.mode.value if workload else None,
        peak=workload.peak if workload else None,
        knee_level=status.measured.knee_level if status.measured else None,
        replicas=recommendation.replicas if recommendation else None,
        total_gpus=recommendation.total_gpus if recommendation else None,
        cost_per_hour=recommendation.cost_per_hour if recommendation else None,
        currency=recommendation.currency if recommendation else None,
        ready_reason=ready_reason,
        children=[
            {
                "name": c.name,
                "loadtestUid": c.loadtest_uid,
                "runId": c.run_id,
                "level": c.level,
                "repeat": c.repeat,
            }
            for c in sorted(children, key=lambda c: (c.level, c.repeat, c.name))
        ],
        measured=status.measured.model_dump(mode="json", by_alias=True, exclude_none=True)
        if status.measured
        else None,
        recommendation=recommendation.model_dump(mode="json", by_alias=True, exclude_none=True)
        if recommendation
        else None,
        spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        created_at=created_at,
        updated_at=updated_at,
    )


def save_recommendation(engine: Engine, row: RecommendationRow) -> None:
    """Insert or update `row` (keyed by uid). created_at keeps its first value."""
    with engine.begin() as connection:
        upsert(connection, row, ("uid",), keep=("created_at",))


def get_recommendation(engine: Engine, uid: str) -> RecommendationRow | None:
    with Session(engine) as session:
        return session.get(RecommendationRow, uid)


def list_recommendations(
    engine: Engine,
    *,
    namespace: str | None = None,
    name: str | None = None,
    limit: int = 100,
    namespaces: frozenset[str] | None = None,
    offset: int = 0,
) -> list[RecommendationRow]:
    """Recommendations, most recently updated first; `namespaces`: only these (None: all)."""
    statement = select(RecommendationRow)
    if namespaces is not None:
        statement = statement.where(col(RecommendationRow.namespace).in_(sorted(namespaces)))
    if namespace is not None:
        statement = statement.where(col(RecommendationRow.namespace) == namespace)
    if name is not None:
        statement = statement.where(col(RecommendationRow.name) == name)
    statement = (
        statement.order_by(desc(col(RecommendationRow.updated_at)), col(RecommendationRow.uid))
        .offset(offset)
        .limit(limit)
    )
    with Session(engine) as session:
        return list(session.exec(statement).all())


def recommendation_namespaces(engine: Engine, *, name: str | None = None, limit: int = 100) -> list[str]:
    """The distinct namespaces holding recommendations (named `name`), at most `limit`."""
    statement = select(RecommendationRow.namespace).distinct()
    if name is not None:
        statement = statement.where(col(RecommendationRow.name) == name)
    statement = statement.order_by(col(RecommendationRow.namespace)).limit(limit)
    with engine.connect() as connection:
        return [str(ns) for ns in connection.execute(statement).scalars().all()]
