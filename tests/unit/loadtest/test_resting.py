"""The checks of objects at rest (reconcile/resting.py) over the LoadTest harness: once per process and
rest key, again when the store is found empty or did not answer, never for an object with work left."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

from loadtest_operator.api import KIND, PLURAL
from loadtest_operator.loadtest.settled import loadtest_rest_key
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.loadtest import reconcile_loadtest
from loadtest_operator.reconcile.resting import Kind, Resting
from loadtest_operator.reconcile.stalled import LOADTEST_ENDING
from tests.unit.loadtest.test_plan import SPEC, FakeKube, FakeStore, Harness, restart_on, run
from tests.unit.merge_patch import apply_merge_patch
from tests.unit.operator.specs import merged


class Store(FakeStore):
    """FakeStore with what the checks ask: whether the store answers, and a probe."""

    @property
    def answering(self) -> bool:
        return not self.down

    async def probe(self) -> bool:
        return not self.down


class Kube(FakeKube):
    """FakeKube holding the LoadTest itself too (what a sweep reads and patches)."""

    def __init__(self) -> None:
        super().__init__()
        self.loadtest: dict[str, Any] | None = None
        self.status_patches: list[dict[str, Any]] = []

    async def custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.loadtest)

    async def patch_custom_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any], resource_version: str
    ) -> bool:
        assert self.loadtest is not None
        self.status_patches.append(status)
        self.loadtest["status"] = apply_merge_patch(self.loadtest.get("status") or {}, status)
        return True


def rest_key(ctx: Context, body: Mapping[str, Any]) -> str | None:
    return loadtest_rest_key(body, store_configured=ctx.store is not None)


KIND_ = Kind(KIND, PLURAL, reconcile_loadtest, rest_key, 3.0, LOADTEST_ENDING)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def finished(store: Store | None = None) -> tuple[Harness, Kube, Store]:
    h = Harness()
    kube, store = Kube(), store or Store()
    h.kube, h.store = kube, store
    h.ctx = h.new_context()
    run(h)
    kube.loadtest = h.body
    return h, kube, store


def no_events(body: Mapping[str, Any]) -> EventSink:
    return lambda *_: None


def check_if_seen(resting: Resting, h: Harness) -> bool:
    if not resting.seen(h.ctx, KIND_, h.body):
        return False
    outcome = asyncio.run(resting.check(h.ctx, KIND_, h.body, no_events(h.body)))
    h.body["status"] = apply_merge_patch(h.body.get("status") or {}, outcome.status_patch)
    return True


def test_a_finished_run_is_checked_once_per_process_and_again_by_a_restarted_one() -> None:
    h, _, store = finished()
    resting = Resting(Clock())
    questions = store.questions

    assert check_if_seen(resting, h)
    assert [check_if_seen(resting, h) for _ in range(5)] == [False] * 5
    assert resting.count(KIND) == 1
    assert store.questions - questions <= 1  # one read by primary key (or none: this process wrote it)

    restarted = Resting(Clock())
    restart_on(h, store)
    assert check_if_seen(restarted, h)
    assert not check_if_seen(restarted, h)
    assert store.questions - questions <= 2


def test_an_edit_of_a_finished_run_is_looked_at_again_and_a_runid_bump_leaves_it_to_the_timer() -> None:
    h, _, _ = finished()
    resting = Resting(Clock())
    assert check_if_seen(resting, h)

    h.body["metadata"]["generation"] = 2  # an edit: same runId, the plan leaves the run alone
    assert check_if_seen(resting, h)
    assert not check_if_seen(resting, h)

    h.body["spec"] = merged(SPEC, {"runId": 1})
    h.body["metadata"]["generation"] = 3
    assert not resting.seen(h.ctx, KIND_, h.body)  # work left: the timer's, forgotten here
    assert resting.count(KIND) == 0


def test_a_check_the_store_could_not_answer_is_retried_by_the_sweep_after_a_backoff() -> None:
    h, _, store = finished()
    clock = Clock()
    resting = Resting(clock)
    restart_on(h, store)
    store.down = True
    assert check_if_seen(resting, h)
    assert resting.count(KIND) == 0  # not held: the store did not answer
    assert resting.due(h.ctx) == []  # not at once

    store.down = False
    clock.now += 60
    assert asyncio.run(resting.sweep(h.ctx, no_events)) == 1
    assert resting.count(KIND) == 1
    assert asyncio.run(resting.sweep(h.ctx, no_events)) == 0


def test_a_store_found_empty_has_every_run_at_rest_written_again_by_one_sweep() -> None:
    h, _, store = finished()
    resting = Resting(Clock())
    assert check_if_seen(resting, h)
    assert asyncio.run(resting.sweep(h.ctx, no_events)) == 0

    # The database was replaced by an empty one and the store migrated it (a new epoch).
    store.final.clear()
    store.empty_databases += 1
    writes = len(store.writes)
    assert asyncio.run(resting.sweep(h.ctx, no_events)) == 1
    assert len(store.writes) == writes + 1  # the run, levels and all, from status
    assert resting.count(KIND) == 1
    assert asyncio.run(resting.sweep(h.ctx, no_events)) == 0


def test_a_check_that_fails_writes_stalled_and_hands_the_object_to_its_timer() -> None:
    h, _, store = finished()
    resting = Resting(Clock())

    async def broken(uid: str, run_id: int) -> Any:
        raise RuntimeError("boom")

    store.run_in_store = broken  # type: ignore[method-assign]
    restart_on(h, store)
    assert check_if_seen(resting, h)
    assert h.condition("Stalled") == ("True", "ReconcileError")
    assert rest_key(h.ctx, h.body) is None  # the timer heals it (and backs off)
    assert not resting.seen(h.ctx, KIND_, h.body)


def test_a_deleted_object_is_forgotten_by_the_sweep() -> None:
    h, kube, store = finished()
    resting = Resting(Clock())
    store.down = True
    restart_on(h, store)
    assert check_if_seen(resting, h)
    kube.loadtest = None
    resting.clock = lambda: 1e9
    assert asyncio.run(resting.sweep(h.ctx, no_events)) == 1
    assert resting.due(h.ctx) == []
