"""What the checks of objects at rest ask the store (reconcile/resting.py): whether its answers can be
trusted (`answering`), and a probe that notices a database replaced by an empty one with nobody else
calling."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import Engine

from loadtest_operator.core.plan import InStore
from loadtest_operator.io.store import Store, StoreUnavailableError, downgrade
from tests.integration.store.test_facade import Clock, clock, record, store

__all__ = ["clock", "store"]  # the fixtures, used by name


def test_answering_follows_the_database_and_a_probe_notices_an_emptied_one(
    store: Store, engine: Engine, clock: Clock
) -> None:
    asyncio.run(store.write(record()))
    assert store.answering
    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.STORED
    epoch = store.empty_databases

    downgrade(engine, "base")  # replaced by an empty database while the operator runs
    with pytest.raises(StoreUnavailableError):
        asyncio.run(store.write(record("uid-2")))
    assert not store.answering
    assert not asyncio.run(store.probe())  # still backing off: no call reaches the database

    clock.now += 1
    assert asyncio.run(store.probe())
    assert store.answering
    assert store.empty_databases == epoch + 1  # what makes the sweep check every object at rest again
    assert asyncio.run(store.run_in_store("uid-1", 0)) is InStore.MISSING
