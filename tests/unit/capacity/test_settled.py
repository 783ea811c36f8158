"""A CapacityRecommendation's rest key (capacity/settled.py) against the real reconcile: no key while the
search or the Deployment can still change something, a key once it has ended, and a key means a tick
does nothing."""

from __future__ import annotations

from loadtest_operator.capacity.settled import capacity_rest_key
from tests.unit.capacity.test_capacity_reconcile import REVIEWED, SPEC, FakeKube, Harness, deployment
from tests.unit.capacity.test_plan import finish


def key(h: Harness) -> str | None:
    return capacity_rest_key(h.body)


def search(h: Harness, knee: int) -> list[str | None]:
    """Tick until Ready is no longer Unknown (children finishing against a server with this knee); the
    key before each tick."""
    keys = []
    for _ in range(30):
        keys.append(key(h))
        h.reconcile()
        if h.ready()["status"] != "Unknown":
            return keys
        for name, obj in h.kube.loadtest_objs.items():
            if "status" not in obj:
                h.kube.loadtest_objs[name] = finish(obj, knee)
    raise AssertionError("the search did not end")


def assert_a_tick_does_nothing(h: Harness) -> None:
    created, scaled = list(h.kube.created), list(h.kube.scaled)
    assert h.reconcile() == {}
    assert (h.kube.created, h.kube.scaled) == (created, scaled)


def test_a_recommendation_is_at_rest_only_once_it_is_made() -> None:
    h = Harness(FakeKube(deployment()), SPEC)
    keys = search(h, knee=4)
    assert keys == [None] * len(keys)
    assert h.ready()["reason"] == "Recommended"
    assert key(h) == "1/Recommended"
    assert_a_tick_does_nothing(h)

    h.body["spec"] = {**SPEC, "headroomPercent": 50}  # recomputed from the same children
    h.body["metadata"]["generation"] = 2
    assert key(h) is None
    h.reconcile()
    assert key(h) == "2/Recommended"


def test_a_search_whose_lowest_level_misses_is_at_rest() -> None:
    h = Harness(FakeKube(deployment()), SPEC)
    search(h, knee=0)
    assert h.ready()["reason"] == "SloUnreachable"
    assert key(h) == "1/SloUnreachable"
    assert_a_tick_does_nothing(h)


def test_with_scale_deployment_the_replicas_are_kept_so_it_never_rests() -> None:
    h = Harness(
        FakeKube(deployment()),
        {**SPEC, "scaleDeployment": True, "maxReplicas": 10},
        settings=REVIEWED,
    )
    search(h, knee=4)
    assert h.ready()["reason"] == "Recommended"
    assert key(h) is None
    assert h.kube.deployment_obj is not None
    h.kube.deployment_obj["spec"]["replicas"] = 1  # someone scales it back
    h.reconcile()
    assert h.kube.scaled[-1] == 3  # what the timer is kept for


def test_a_missing_deployment_is_waited_for_and_an_invalid_spec_rests() -> None:
    waiting = Harness(FakeKube(None), SPEC)
    waiting.reconcile()
    assert waiting.ready()["reason"] == "TargetUnavailable"
    assert key(waiting) is None  # the Deployment may appear without this object changing

    invalid = Harness(FakeKube(deployment()), {**SPEC, "scaleDeployment": True})  # no maxReplicas
    invalid.reconcile()
    assert invalid.ready()["reason"] == "InvalidSpec"
    assert key(invalid) == "1/InvalidSpec"
    assert_a_tick_does_nothing(invalid)

    unparsable = Harness(FakeKube(deployment()), {"target": 5})
    unparsable.reconcile()
    assert key(unparsable) == "1/InvalidSpec"
    assert_a_tick_does_nothing(unparsable)


def test_a_failed_child_waits_for_the_user_and_keeps_its_timer() -> None:
    h = Harness(FakeKube(deployment()), SPEC)
    h.reconcile()
    (name,) = h.kube.loadtest_objs
    failed = finish(h.kube.loadtest_objs[name], 4)
    failed["status"]["conditions"][0].update({"status": "False", "reason": "ShardFailed", "message": "x"})
    failed["status"]["levels"] = []  # failed: no result for its level
    h.kube.loadtest_objs[name] = failed
    h.reconcile()
    assert h.ready()["reason"] == "ChildFailed"
    assert key(h) is None  # deleting the failed child is an event of the child, not of this object
