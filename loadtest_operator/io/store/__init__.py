"""The SQL history of LoadTest runs: SQLite by default, PostgreSQL when configured.

The functions are synchronous on purpose; the operator calls them through `Store` (facade.py), which runs
them on the store's own thread pool with a deadline per call (calls.py).
"""

from loadtest_operator.core.plan import ChildRun
from loadtest_operator.io.store.calls import StoreCalls
from loadtest_operator.io.store.engine import create_store_engine, database_url
from loadtest_operator.io.store.facade import Store, StoreError, StoreRejectedError, StoreUnavailableError
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
    run_is_final,
    save_run,
)

__all__ = [
    "ChildRun",
    "LevelResultRow",
    "RecommendationRow",
    "Run",
    "RunQuery",
    "Store",
    "StoreCalls",
    "StoreError",
    "StoreRejectedError",
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
    "run_is_final",
    "run_row",
    "save_recommendation",
    "save_run",
    "upgrade",
]
