from __future__ import annotations

import re
from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import Cluster, dump_namespace, fresh_namespace, start_cluster, stop_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = start_cluster()
    try:
        yield c
    finally:
        stop_cluster(c)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    report = yield
    item.stash.setdefault(_FAILED, False)
    if getattr(report, "failed", False):
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test; its pods, events and logs are printed when the test fails."""
    with fresh_namespace(cluster, re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())) as ns:
        yield ns
        if request.node.stash.get(_FAILED, False):
            print(f"\n==== state of namespace {ns} ====\n{dump_namespace(cluster, ns)}")
