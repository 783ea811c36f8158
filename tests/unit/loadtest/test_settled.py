"""A LoadTest's rest key (loadtest/settled.py) against the real plan: no key while a tick could still do
something, a key once nothing is left, and a key means a tick does nothing, even after a restart."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from loadtest_operator.loadtest.settled import loadtest_rest_key
from tests.unit.loadtest.test_plan import RUN, SPEC, FakeStore, Harness, restart_on, run
from tests.unit.operator.specs import merged


def key(h: Harness) -> str | None:
    return loadtest_rest_key(h.body, store_configured=h.store is not None)


def assert_a_tick_does_nothing(h: Harness) -> None:
    """What a key promises: the tick (of this process, and of a restarted one) writes and creates
    nothing; the store is asked at most once."""
    created, deleted = list(h.kube.created), list(h.kube.deleted)
    writes = len(h.store.writes) if h.store else 0
    assert h.tick() == {}
    restart_on(h, h.store) if h.store is not None else None
    assert h.tick() == {}
    assert (h.kube.created, h.kube.deleted) == (created, deleted)
    assert (len(h.store.writes) if h.store else 0) == writes


def test_no_key_at_any_step_of_a_run_until_it_is_finished_and_stored() -> None:
    h = Harness()
    keys = []
    for _, step in RUN:
        step(h)
        keys.append(key(h))
        h.tick()
    assert keys[:-1] == [None] * (len(RUN) - 1)
    assert h.condition("Stored") == ("True", "Stored")
    assert key(h) == "1/0/Completed/Stored"
    assert_a_tick_does_nothing(h)


def test_a_finished_run_whose_store_write_failed_keeps_work_until_it_lands() -> None:
    h = Harness()
    assert h.store is not None
    h.store.down = True
    run(h)
    assert h.condition("Stored") == ("False", "DatabaseUnavailable")
    assert key(h) is None  # the write is retried on the timer

    h.store.down = False
    h.tick()
    assert h.condition("Stored") == ("True", "Stored")
    assert key(h) is not None


def test_a_record_the_store_refused_is_at_rest_until_a_restart_checks_it_once() -> None:
    h = Harness()
    assert h.store is not None
    h.store.refuse = True
    run(h)
    assert h.condition("Stored") == ("False", "StoreRejected")
    assert key(h) == "1/0/Completed/StoreRejected"
    attempts = h.store.attempts
    assert h.tick() == {}
    assert h.store.attempts == attempts


def test_without_a_store_a_finished_run_is_at_rest_with_no_stored_condition() -> None:
    h = Harness(store=False)
    run(h)
    assert key(h) == "1/0/Completed/NoStore"
    assert_a_tick_does_nothing(h)


def test_a_runid_bump_on_a_finished_run_is_work_and_an_edit_is_a_new_key() -> None:
    h = Harness()
    run(h)
    rested = key(h)
    assert rested is not None

    edited = copy.deepcopy(h.body)
    edited["spec"] = merged(SPEC, {"load": {"requestsPerLevel": 20}})
    edited["metadata"]["generation"] = 2
    assert loadtest_rest_key(edited, store_configured=True) not in (None, rested)  # looked at again

    h.body["spec"] = merged(SPEC, {"runId": 1})
    h.body["metadata"]["generation"] = 2
    assert key(h) is None
    h.tick()
    assert h.body["status"]["runId"] == 1
    assert any(kind == "Job" for kind, _ in h.kube.created[-3:])


def test_a_refused_spec_is_at_rest_and_like_any_finished_run_reruns_on_a_runid_bump() -> None:
    h = Harness(merged(SPEC, {"load": {"levels": [8, 4]}}))
    assert key(h) is None
    h.tick()  # refused (Succeeded=False: a finished run), stored as refused on the next tick
    h.tick()
    assert h.condition("Accepted") == ("False", "LevelsNotSorted")
    assert key(h) == "1/0/LevelsNotSorted/Stored"
    assert_a_tick_does_nothing(h)

    h.body["spec"] = SPEC  # fixed under the same runId: the plan leaves a finished run alone
    h.body["metadata"]["generation"] = 2
    assert key(h) == "2/0/LevelsNotSorted/Stored"
    assert_a_tick_does_nothing(h)

    h.body["spec"] = merged(SPEC, {"runId": 1})
    h.body["metadata"]["generation"] = 3
    assert key(h) is None
    h.tick()
    assert h.condition("Accepted") == ("True", "Valid")


def test_a_spec_that_does_not_parse_is_at_rest_once_refused() -> None:
    h = Harness({"target": {"url": 5}})
    assert key(h) is None
    h.tick()
    assert key(h) is not None
    assert_a_tick_does_nothing(h)
    h.body["metadata"]["generation"] = 2
    assert key(h) is None  # an edit, even to another unparsable spec, is re-validated


@pytest.mark.parametrize(
    "change",
    [
        {"metadata": {"deletionTimestamp": "2026-12-01T12:00:00Z"}},
        {
            "status": {
                "conditions": [
                    {
                        "type": "Stalled",
                        "status": "True",
                        "reason": "ReconcileError",
                        "lastTransitionTime": "2026-12-01T12:00:00Z",
                    }
                ]
            }
        },
    ],
)
def test_a_deleted_or_stalled_object_is_never_at_rest(change: dict[str, Any]) -> None:
    h = Harness()
    run(h)
    body = copy.deepcopy(h.body)
    for section, values in change.items():
        if section == "status":
            body["status"]["conditions"] = [*body["status"]["conditions"], *values["conditions"]]
        else:
            body[section].update(values)
    assert loadtest_rest_key(body, store_configured=True) is None


def test_a_restart_on_an_emptied_store_is_what_the_check_does_at_rest() -> None:
    """The one tick an object at rest gets (reconcile/resting.py) writes the run again to a store that
    lacks it, leaving status alone: the key it rests at stays."""
    h = Harness()
    run(h)
    rested = key(h)
    empty = FakeStore()
    restart_on(h, empty)
    assert h.tick() == {}
    assert len(empty.writes) == 1
    assert key(h) == rested
