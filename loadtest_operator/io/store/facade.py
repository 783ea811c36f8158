"""The store as the reconcilers see it: write a record, get a typed error when the database is away.
Blocking SQL runs in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from loadtest_operator.core.plan import RecommendationRecord, RunRecord
from loadtest_operator.io.store.engine import create_store_engine
from loadtest_operator.io.store.migrate import upgrade
from loadtest_operator.io.store.recommendations import recommendation_row, save_recommendation
from loadtest_operator.io.store.records import level_row, run_row
from loadtest_operator.io.store.repository import save_run


class StoreUnavailableError(RuntimeError):
    """The database did not take the write; the message says why (no credentials in it)."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(create_store_engine(url))

    def migrate(self) -> None:
        """Bring the schema to the newest revision; raises StoreUnavailableError."""
        try:
            upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(str(exc)) from exc

    async def write(self, record: RunRecord | RecommendationRecord) -> None:
        try:
            await asyncio.to_thread(_write, self.engine, record)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(str(exc)) from exc


def _write(engine: Engine, record: RunRecord | RecommendationRecord) -> None:
    if isinstance(record, RunRecord):
        run = run_row(
            uid=record.uid,
            namespace=record.namespace,
            name=record.name,
            spec=record.spec,
            status=record.phase,
            reason=record.reason,
            started_at=record.started_at,
            finished_at=record.finished_at,
            updated_at=record.updated_at,
            model=record.model,
            best_goodput_level=record.best_goodput_level,
            summary=record.summary,
        )
        levels = None
        if record.levels is not None:
            levels = [level_row(record.uid, record.spec.run_id, lv) for lv in record.levels]
        save_run(engine, run, levels)
    else:
        save_recommendation(
            engine,
            recommendation_row(
                uid=record.uid,
                namespace=record.namespace,
                name=record.name,
                spec=record.spec,
                status=record.status,
                children=record.children,
                target=record.target,
                ready_reason=record.ready_reason,
                created_at=record.created_at,
                updated_at=record.updated_at,
            ),
        )
