"""The store as the reconcilers see it: write a record, ask whether a finished run is stored, get a typed
error when the database is away (StoreUnavailableError) or refuses the values (StoreRejectedError).

Blocking SQL runs on the store's own thread pool with a deadline per call (calls.py), never on the event
loop and never on the default pool. The schema is brought to head lazily and again after every outage:
a database that was down at start-up, or was replaced by an empty one, is migrated by the first call that
reaches it (migrations are idempotent), so nothing waits for an operator restart.
"""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from loadtest_operator.core.plan import InStore, RecommendationRecord, RunRecord
from loadtest_operator.io.store.calls import (
    CALL_TIMEOUT_SECONDS,
    StoreCalls,
    StoreError,
    StoreRejectedError,
    StoreUnavailableError,
)
from loadtest_operator.io.store.engine import create_store_engine
from loadtest_operator.io.store.migrate import current_revision, upgrade
from loadtest_operator.io.store.recommendations import recommendation_row, save_recommendation
from loadtest_operator.io.store.records import level_row, run_row
from loadtest_operator.io.store.repository import FINAL_STATUSES, run_is_final, save_run

__all__ = ["Store", "StoreError", "StoreRejectedError", "StoreUnavailableError"]

# Migrations may rewrite tables (SQLite) or wait for another pod's migration lock (PostgreSQL).
MIGRATION_TIMEOUT_SECONDS = 300.0

RunKey = tuple[str, int]


class Store:
    def __init__(self, engine: Engine, calls: StoreCalls | None = None) -> None:
        self.engine = engine
        self.calls = calls or StoreCalls()
        self._migrated = False
        self._migrate_lock = threading.Lock()
        # What this process knows without asking: runs stored as finished (written here or found), and
        # runs whose final write the database refused here. Only the observer's question reads these.
        self._final: set[RunKey] = set()
        self._rejected: set[RunKey] = set()
        # How many databases without a schema this process migrated: a write before the last one is gone.
        self.empty_databases = 0

    @classmethod
    def open(cls, url: str, *, timeout: float = CALL_TIMEOUT_SECONDS) -> Store:
        return cls(create_store_engine(url), StoreCalls(timeout=timeout))

    def migrate(self) -> None:
        """Bring the schema to head now (the operator's start-up); raises StoreUnavailableError. A failure
        starts the back-off: the first call after it migrates."""
        if self.calls.run_sync(self._migrate, seconds=MIGRATION_TIMEOUT_SECONDS):
            self._found_empty()

    async def write(self, record: RunRecord | RecommendationRecord) -> None:
        """Upsert `record`. Raises StoreUnavailableError (retry later) or StoreRejectedError."""
        # An ended run's key: what the observer's question remembers.
        key = None
        if isinstance(record, RunRecord) and record.phase in FINAL_STATUSES:
            key = (record.uid, record.spec.run_id)
        await self._ready()
        try:
            await self.calls.run(_write, self.engine, record)
        except StoreRejectedError:
            if key is not None:
                self._rejected.add(key)
            raise
        except StoreUnavailableError:
            self._migrated = False
            raise
        if key is not None:
            self._final.add(key)
            self._rejected.discard(key)

    async def run_in_store(self, uid: str, run_id: int) -> InStore:
        """What the store holds of run `run_id` of LoadTest `uid`: answered from memory when this process
        wrote or found it, otherwise by one read by primary key. Never raises."""
        key = (uid, run_id)
        try:
            await self._ready()  # after an outage: the database may be a new, empty one
            if key in self._final:
                return InStore.STORED
            if key in self._rejected:
                return InStore.REJECTED
            final = await self.calls.run(run_is_final, self.engine, uid, run_id)
        except StoreError:
            self._migrated = False
            return InStore.UNKNOWN
        if not final:
            return InStore.MISSING
        self._final.add(key)
        return InStore.STORED

    @property
    def answering(self) -> bool:
        """Whether the last calls reached the database (no back-off, the schema checked since the last
        failure): what a caller needs to trust an answer given from memory or by one read."""
        return self._migrated and not self.calls.failing

    async def probe(self) -> bool:
        """One call that migrates the database if it needs it (a new, empty one counts in
        `empty_databases`); whether the store answers. Never raises."""
        try:
            await self._ready()
        except StoreError:
            self._migrated = False
            return False
        return self.answering

    def forget(self, uid: str) -> None:
        """Drop what this process remembers of a deleted LoadTest."""
        for known in (self._final, self._rejected):
            for key in [k for k in known if k[0] == uid]:
                known.discard(key)

    def close(self) -> None:
        self.calls.close()
        self.engine.dispose()

    async def _ready(self) -> None:
        if not self._migrated and await self.calls.run(self._migrate, seconds=MIGRATION_TIMEOUT_SECONDS):
            self._found_empty()

    def _found_empty(self) -> None:
        # A new or emptied database: what this process found stored before is gone, and the finished
        # LoadTests still in the cluster are written again.
        self._final.clear()
        self.empty_databases += 1

    def _migrate(self) -> bool:
        """Migrate to head unless done; True when the database had no schema. In a store worker thread:
        the lock makes concurrent first calls migrate once."""
        with self._migrate_lock:
            if self._migrated:
                return False
            empty = current_revision(self.engine) is None
            upgrade(self.engine)
            self._migrated = True
            return empty


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
            labels=dict(record.labels),
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
