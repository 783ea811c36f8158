"""The recommendations table on SQLite and PostgreSQL: upserts keyed by uid, children's run keys kept."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    LoadMode,
    MeasuredCapacity,
    ResolvedWorkload,
    TokenDistribution,
    WorkloadSource,
)
from loadtest_operator.capacity.recommend import SizingInputs, recommend
from loadtest_operator.io.store import (
    ChildRun,
    RecommendationRow,
    get_recommendation,
    list_recommendations,
    recommendation_row,
    save_recommendation,
    upgrade,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
SPEC = CapacityRecommendationSpec.model_validate(
    {
        "target": {"serviceRef": {"name": "vllm", "port": 8000}, "deploymentRef": {"name": "vllm"}},
        "workload": {"peakConcurrency": 500, "inputTokens": {"mean": 256}, "outputTokens": {"mean": 512}},
        "slo": {"ttftMilliseconds": 500},
        "requestsPerLevel": 200,
        "cost": {"pricePerGpuHour": "2.50"},
    }
)
WORKLOAD = ResolvedWorkload(
    source=WorkloadSource.SPEC,
    mode=LoadMode.CONCURRENCY,
    peak=500,
    input_tokens=TokenDistribution(mean=256),
    output_tokens=TokenDistribution(mean=512),
)
CHILDREN = [
    ChildRun(name="cr-abc123-l16-r0", loadtest_uid="lt-uid-16", run_id=0, level=16, repeat=0),
    ChildRun(name="cr-abc123-l8-r0", loadtest_uid="lt-uid-8", run_id=0, level=8, repeat=0),
]


@pytest.fixture
def store(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


def searching() -> CapacityRecommendationStatus:
    return CapacityRecommendationStatus(target="service/vllm:8000", workload=WORKLOAD)


def recommended() -> CapacityRecommendationStatus:
    sizing = SizingInputs(
        mode=LoadMode.CONCURRENCY,
        peak=500,
        headroom_percent=20,
        knee=96,
        current_replicas=2,
        gpus_per_replica=1,
        output_tokens_per_second_at_knee=2400.0,
        price_per_gpu_hour=Decimal("2.50"),
        currency="USD",
    )
    return searching().model_copy(
        update={
            "measured": MeasuredCapacity(
                knee_level=96, current_replicas=2, max_concurrency_per_replica_at_slo=48
            ),
            "recommendation": recommend(sizing, namespace="bench", deployment="vllm"),
        }
    )


def row(
    status: CapacityRecommendationStatus, reason: str, updated: datetime, **kw: object
) -> RecommendationRow:
    values: dict[str, object] = {
        "uid": "cr-uid-1",
        "namespace": "bench",
        "name": "llama-next-month",
        "spec": SPEC,
        "status": status,
        "children": CHILDREN,
        "target": "service/vllm:8000",
        "ready_reason": reason,
        "created_at": updated,
        "updated_at": updated,
    }
    values.update(kw)
    return recommendation_row(**values)  # type: ignore[arg-type]


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        table = RecommendationRow.__table__  # type: ignore[attr-defined]
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_upsert_keyed_by_uid(store: Engine) -> None:
    save_recommendation(store, row(searching(), "Searching", T0))
    first = get_recommendation(store, "cr-uid-1")
    assert first is not None
    assert first.replicas is None
    assert first.ready_reason == "Searching"
    later = T0 + timedelta(minutes=40)
    save_recommendation(store, row(recommended(), "Recommended", later, created_at=later))
    save_recommendation(store, row(recommended(), "Recommended", later, created_at=later))  # a retry
    assert count(store) == 1
    stored = get_recommendation(store, "cr-uid-1")
    assert stored is not None
    assert (stored.replicas, stored.total_gpus, stored.cost_per_hour, stored.currency) == (
        13,
        13,
        "32.50",
        "USD",
    )
    assert (stored.mode, stored.peak, stored.knee_level, stored.deployment) == (
        "Concurrency",
        500,
        96,
        "vllm",
    )
    assert stored.created_at == T0  # the first write's time is kept
    assert stored.updated_at == later
    assert stored.recommendation is not None
    assert "= 32.50 USD" in stored.recommendation["formula"]
    assert stored.measured == {"currentReplicas": 2, "kneeLevel": 96, "maxConcurrencyPerReplicaAtSlo": 48.0}
    assert stored.spec["cost"] == {"pricePerGpuHour": "2.50", "currency": "USD"}


def test_children_keep_their_run_keys_in_level_order(store: Engine) -> None:
    save_recommendation(store, row(searching(), "Searching", T0))
    stored = get_recommendation(store, "cr-uid-1")
    assert stored is not None
    assert stored.children == [
        {"name": "cr-abc123-l8-r0", "loadtestUid": "lt-uid-8", "runId": 0, "level": 8, "repeat": 0},
        {"name": "cr-abc123-l16-r0", "loadtestUid": "lt-uid-16", "runId": 0, "level": 16, "repeat": 0},
    ]


def test_list_newest_first_and_filtered(store: Engine) -> None:
    save_recommendation(store, row(searching(), "Searching", T0))
    save_recommendation(
        store, row(searching(), "Searching", T0 + timedelta(hours=1), uid="cr-uid-2", name="other")
    )
    save_recommendation(
        store, row(searching(), "Searching", T0 + timedelta(hours=2), uid="cr-uid-3", namespace="prod")
    )
    assert [r.uid for r in list_recommendations(store)] == ["cr-uid-3", "cr-uid-2", "cr-uid-1"]
    assert [r.uid for r in list_recommendations(store, namespace="bench")] == ["cr-uid-2", "cr-uid-1"]
    assert [r.uid for r in list_recommendations(store, name="other")] == ["cr-uid-2"]
    assert [r.uid for r in list_recommendations(store, limit=1)] == ["cr-uid-3"]
    assert get_recommendation(store, "missing") is None
