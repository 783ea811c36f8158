"""A run's start creates its children in two waves (reconcile/executor.py): everything but the Jobs at
once, then the Jobs at once, so a burst of LoadTests is not a chain of API writes per run, and no shard
pod is made before the ServiceAccount and ConfigMaps it needs."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.loadtest.test_plan import SPEC, FakeKube, Harness
from tests.unit.operator.specs import merged


class SlowKube(FakeKube):
    """Each create takes a while; records how many were in flight together and in which order they began."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: set[tuple[str, str]] = set()
        self.most_at_once = 0
        self.begun: list[tuple[str, frozenset[tuple[str, str]]]] = []  # (kind, what was in flight then)

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        key = (manifest["kind"], manifest["metadata"]["name"])
        self.begun.append((key[0], frozenset(self.in_flight)))
        self.in_flight.add(key)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        await asyncio.sleep(0.01)
        self.in_flight.discard(key)
        return await super().create(manifest)


def started(parallelism: int) -> SlowKube:
    h = Harness(merged(SPEC, {"loadGenerator": {"parallelism": parallelism}}))
    kube = SlowKube()
    kube.objects.update(h.kube.objects)  # the target's Service, pods and node
    h.kube = kube
    h.ctx = h.new_context()
    h.tick()
    return kube


def test_the_children_of_a_start_are_created_at_once_and_the_jobs_after_the_rest() -> None:
    kube = started(parallelism=4)

    kinds = [kind for kind, _ in kube.created]
    assert kinds.count("Job") == 4
    others = len(kinds) - 4
    assert others >= 5  # ServiceAccount, Role, RoleBinding, the run config, a result ConfigMap per shard
    assert kube.most_at_once == others  # not one after another
    for kind, in_flight in kube.begun:
        if kind == "Job":  # begun once every other child was created, never beside one
            assert all(k == "Job" for k, _ in in_flight)
    first_job = next(i for i, (kind, _) in enumerate(kube.begun) if kind == "Job")
    assert all(kind != "Job" for kind, _ in kube.begun[:first_job])
    assert all(kind == "Job" for kind, _ in kube.begun[first_job:])
