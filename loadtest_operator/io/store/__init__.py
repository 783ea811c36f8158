"""The SQL history of LoadTest runs: SQLite by default, PostgreSQL when configured.

Synchronous on purpose; the operator calls it through `asyncio.to_thread`.
"""

from loadtest_operator.core.plan import ChildRun
from loadtest_operator.io.store.engine import create_store_engine, database_url
from loadtest_operator.io.store.facade import Store, StoreUnavailableError
from loadtest_operator.io.store.migrate import current_revision, downgrade, head_revision, upgrade
from loadtest_operator.io.store.models import LevelResultRow, RecommendationRow, Run
from loadtest_operator.io.store.recommendations import (
    get_recommendation,
    list_recommendations,
    recommendation_row,
    save_recommendation,
)
from loadtest_operator.io.store.records import level_row, run_row
from loadtest_operator.io.store.repository import (
    RunQuery,
    get_run,
    level_history,
    list_level_results,
    list_runs,
    save_run,
)

__all__ = [
    "ChildRun",
    "LevelResultRow",
    "RecommendationRow",
    "Run",
    "RunQuery",
    "Store",
    "StoreUnavailableError",
    "create_store_engine",
    "current_revision",
    "database_url",
    "downgrade",
    "get_recommendation",
    "get_run",
    "head_revision",
    "level_history",
    "level_row",
    "list_level_results",
    "list_recommendations",
    "list_runs",
    "recommendation_row",
    "run_row",
    "save_recommendation",
    "save_run",
    "upgrade",
]
