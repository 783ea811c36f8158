"""Stalled is not endless: once every reconcile of an object has failed for the stalled deadline, a running
LoadTest ends (StalledTooLong, the last error quoted, its Jobs stopped) and a CapacityRecommendation's
search stops. Replayed tick by tick through the catch-all, the real observer, plan and executor, over the
in-memory API server of test_plan.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from loadtest_operator.io.kube import KubeError
from loadtest_operator.reconcile.capacity import reconcile_capacity
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.guard import Outcome, guarded
from loadtest_operator.reconcile.loadtest import reconcile_loadtest
from loadtest_operator.reconcile.settings import OperatorSettings
from loadtest_operator.reconcile.stalled import CAPACITY_ENDING, LOADTEST_ENDING
from tests.unit.capacity import test_capacity_reconcile as capacity
from tests.unit.capacity.specs import raw_spec
from tests.unit.loadtest.test_plan import FakeKube, Harness
from tests.unit.merge_patch import apply_merge_patch

DEADLINE = 600.0


def refusal(what: str) -> KubeError:
    exc = ApiException(status=500, reason="Internal Server Error")
    exc.body = json.dumps({"message": "etcdserver: request timed out"})
    return KubeError(what, exc)


class BrokenKube(FakeKube):
    """An API server that serves the LoadTest but fails every list of the run's pods (and, with
    `jobs_broken`, of its Jobs too) until `healed`."""

    healed = False
    jobs_broken = False

    async def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        if not self.healed and "run-id" in selector:
            raise refusal("listing pods")
        return await super().pods(namespace, selector)

    async def jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        if not self.healed and self.jobs_broken:
            raise refusal("listing jobs")
        return await super().jobs(namespace, selector)


class BrokenHarness(Harness):
    kube: BrokenKube


def harness(deadline: float = DEADLINE, **kube: bool) -> BrokenHarness:
    h = BrokenHarness()
    h.kube = BrokenKube()
    for key, value in kube.items():
        setattr(h.kube, key, value)
    h.ctx = h.new_context()
    h.ctx.settings = OperatorSettings(stalled_deadline_seconds=deadline)
    return h


def guarded_tick(h: Harness, seconds: float, retry: int) -> Outcome:
    """One tick of the guarded LoadTest reconcile `seconds` after the last; its status patch applied."""
    h.now += timedelta(seconds=seconds)

    async def reconcile(ctx: Context, body: Mapping[str, Any], event: EventSink) -> dict[str, Any]:
        return await reconcile_loadtest(ctx, body, event, h.now)  # on the test's clock

    outcome = asyncio.run(
        guarded(h.ctx, "LoadTest", h.body, reconcile, lambda *e: h.events.append(e),
                retry=retry, interval=3.0, now=h.now, ending=LOADTEST_ENDING)
    )  # fmt: skip
    h.body["status"] = apply_merge_patch(h.body.get("status") or {}, outcome.status_patch)
    return outcome


def fail_until_the_deadline(h: Harness) -> list[Outcome]:
    """Tick as kopf would, each retry after the delay the last outcome asked for, until one asks none."""
    outcomes = [guarded_tick(h, 1, retry=0)]
    while outcomes[-1].retry_in is not None and len(outcomes) < 50:
        outcomes.append(guarded_tick(h, outcomes[-1].retry_in, retry=len(outcomes)))
    return outcomes


def started(h: BrokenHarness) -> list[str]:
    """The run started and its shard pods running (the Jobs' names)."""
    h.kube.healed = True
    h.tick()
    h.kube.start_pods()
    h.tick()
    h.kube.healed = False
    return sorted(name for kind, name in h.kube.created if kind == "Job")


def message_of(h: Harness, type_: str) -> str:
    return str(next(c["message"] for c in h.body["status"]["conditions"] if c["type"] == type_))


def test_a_running_loadtest_that_keeps_failing_ends_at_the_deadline_with_its_jobs_stopped() -> None:
    h = harness()
    jobs = started(h)

    outcomes = fail_until_the_deadline(h)

    waited = sum(o.retry_in or 0 for o in outcomes[:-1])
    assert DEADLINE <= waited + 1 < DEADLINE + 2  # the retries land on the deadline, not up to 5 min past it
    assert all(o.retry_in is not None and o.retry_in <= 300 for o in outcomes[:-1])
    assert h.condition("Succeeded") == ("False", "StalledTooLong")
    assert h.condition("Running") == ("False", "RunFinished")
    assert h.body["status"]["phase"] == "Failed"
    message = message_of(h, "Succeeded")
    assert "listing pods: HTTP 500 etcdserver: request timed out" in message
    assert "bump spec.runId" in message
    assert sorted(name for kind, name in h.kube.deleted if kind == "Job") == jobs
    assert h.reasons().count("StalledTooLong") == 1
    sample = h.metrics.registry.get_sample_value("llmload_runs_total", {"outcome": "StalledTooLong"})
    assert sample == 1


def test_an_ended_run_never_runs_again_and_is_stored_once_the_cluster_answers() -> None:
    h = harness()
    started(h)
    fail_until_the_deadline(h)
    created = list(h.kube.created)

    h.kube.healed = True
    healed = guarded_tick(h, 5, retry=0)

    assert healed.retry_in is None
    assert h.kube.created == created  # nothing started again
    assert h.condition("Succeeded") == ("False", "StalledTooLong")
    assert h.condition("Stalled") == ("False", "Recovered")
    assert h.condition("Stored") == ("True", "Stored")
    assert h.store is not None
    assert h.store.writes[-1].phase == "Failed"  # type: ignore[union-attr]
    again = guarded_tick(h, 5, retry=0)
    assert again.status_patch == {}


def test_errors_that_are_not_continuous_never_end_the_run() -> None:
    deadline = 60.0  # short: the run's own deadline must not end it first
    h = harness(deadline)
    started(h)
    for _ in range(4):  # fails for most of the deadline, then one tick succeeds: the clock starts over
        guarded_tick(h, deadline / 4 - 1, retry=1)
        assert h.condition("Stalled") == ("True", "ReconcileError")
    h.kube.healed = True
    guarded_tick(h, 1, retry=0)
    h.kube.healed = False
    guarded_tick(h, deadline / 2, retry=0)
    guarded_tick(h, deadline / 2 - 5, retry=1)

    assert h.condition("Succeeded") == ("Unknown", "RunInProgress")
    assert not [kind for kind, _ in h.kube.deleted]


def test_the_deadline_counts_from_status_across_operator_restarts() -> None:
    h = harness()
    started(h)
    guarded_tick(h, 1, retry=0)
    for _ in range(3):  # a new operator process each time, its own retry count starting at 0
        h.ctx = h.new_context()
        h.ctx.settings = OperatorSettings(stalled_deadline_seconds=DEADLINE)
        guarded_tick(h, DEADLINE / 3, retry=0)

    assert h.condition("Succeeded") == ("False", "StalledTooLong")


def test_jobs_are_stopped_by_name_when_the_api_server_will_not_list_them() -> None:
    h = harness(jobs_broken=True)
    jobs = started(h)

    fail_until_the_deadline(h)

    assert h.condition("Succeeded") == ("False", "StalledTooLong")
    assert "listing jobs" in message_of(h, "Succeeded")
    assert sorted(name for kind, name in h.kube.deleted if kind == "Job") == jobs


def test_a_run_that_could_never_start_ends_too_and_is_not_retried() -> None:
    h = harness()

    class Refusing(BrokenKube):
        async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
            raise refusal(f"creating {manifest['kind']}")

    h.kube = Refusing()
    h.ctx = h.new_context()
    fail_until_the_deadline(h)

    assert h.condition("Succeeded") == ("False", "StalledTooLong")
    assert "creating ServiceAccount" in message_of(h, "Succeeded")
    assert h.body["status"]["runId"] == 0
    assert h.kube.created == []


def test_a_deadline_of_zero_retries_forever() -> None:
    h = harness(deadline=0)
    started(h)
    for retry in range(10):
        outcome = guarded_tick(h, 300, retry=retry)
        assert outcome.retry_in is not None

    assert h.condition("Succeeded") == ("Unknown", "RunInProgress")
    assert h.condition("Stalled") == ("True", "ReconcileError")


def test_a_finished_run_that_keeps_failing_is_only_stalled() -> None:
    h = harness()
    h.kube.healed = True
    h.tick()
    h.kube.start_pods()
    h.kube.finish(0)
    h.kube.finish(1)
    h.tick()
    assert h.condition("Succeeded") == ("True", "Completed")

    async def broken(ctx: Context, body: Mapping[str, Any], event: EventSink) -> dict[str, Any]:
        raise RuntimeError("a bug")

    for retry in range(3):
        h.now += timedelta(seconds=DEADLINE)
        outcome = asyncio.run(
            guarded(h.ctx, "LoadTest", h.body, broken, lambda *e: h.events.append(e),
                    retry=retry, interval=3.0, now=h.now, ending=LOADTEST_ENDING)
        )  # fmt: skip
        h.body["status"] = apply_merge_patch(h.body["status"], outcome.status_patch)
        assert outcome.retry_in is not None

    assert h.condition("Succeeded") == ("True", "Completed")
    assert h.condition("Stalled") == ("True", "ReconcileError")
    assert "StalledTooLong" not in h.reasons()


# -- CapacityRecommendation ------------------------------------------------------------------------------


class BrokenCapacityKube(capacity.FakeKube):
    broken = True

    async def loadtests(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        if self.broken:
            raise refusal("listing loadtests")
        return await super().loadtests(namespace, selector)


class CapacityHarness(capacity.Harness):
    now = datetime(2026, 11, 23, 5, tzinfo=UTC)

    def guarded_tick(self, seconds: float, retry: int) -> Outcome:
        self.now += timedelta(seconds=seconds)
        now = self.now

        async def reconcile(ctx: Context, body: Mapping[str, Any], event: EventSink) -> dict[str, Any]:
            return await reconcile_capacity(ctx, body, event, now)

        outcome = asyncio.run(
            guarded(self.ctx, "CapacityRecommendation", self.body, reconcile,
                    lambda *e: self.events.append(e), retry=retry, interval=3.0, now=now,
                    ending=CAPACITY_ENDING)
        )  # fmt: skip
        self.body["status"] = apply_merge_patch(self.body.get("status") or {}, outcome.status_patch)
        return outcome


def test_a_capacity_search_that_keeps_failing_stops_until_the_spec_changes() -> None:
    kube = BrokenCapacityKube(capacity.deployment())
    h = CapacityHarness(kube, raw_spec())
    h.ctx.settings = OperatorSettings(stalled_deadline_seconds=DEADLINE)
    outcomes = [h.guarded_tick(1, retry=0)]
    while outcomes[-1].retry_in is not None and len(outcomes) < 50:
        outcomes.append(h.guarded_tick(outcomes[-1].retry_in, retry=len(outcomes)))

    ready = h.ready()
    assert (ready["status"], ready["reason"]) == ("False", "StalledTooLong")
    assert "listing loadtests: HTTP 500" in ready["message"]
    assert h.body["status"]["summary"].startswith("StalledTooLong: ")
    assert [e[1] for e in h.events].count("StalledTooLong") == 1

    kube.broken = False
    skipped = h.guarded_tick(5, retry=0)
    assert skipped.status_patch == {}
    assert kube.created == []  # the search stays stopped

    h.body["metadata"]["generation"] = 2  # the spec changed: the search resumes
    resumed = h.guarded_tick(5, retry=0)
    assert resumed.retry_in is None
    assert h.ready()["reason"] == "Searching"
    assert len(kube.created) == 1
