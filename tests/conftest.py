"""Fixtures more than one test directory uses: the local node (`cluster`) and the one real vLLM of a
run (`real_vllm`, tests/shared_vllm.py)."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import Cluster, start_cluster, stop_cluster, use_existing_cluster
from tests.realvllm import Install, install
from tests.shared_vllm import Endpoint, SharedVllm, group_users, needs_pod, users

_AS_POD = pytest.StashKey[bool]()
_LAST_USER = pytest.StashKey[str]()
_SHARED = pytest.StashKey[SharedVllm]()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = start_cluster()
    try:
        yield c
    finally:
        stop_cluster(c)


@pytest.fixture(scope="session")
def vllm_install() -> Install:
    """hack/setup-vllm.sh: about 1 s when cached, 1.5-4 minutes on a clean machine."""
    return install()


@pytest.fixture(scope="session")
def real_vllm(
    request: pytest.FixtureRequest, vllm_install: Install, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    shared = SharedVllm(vllm_install, tmp_path_factory.mktemp("vllm") / "vllm.log")
    request.config.stash[_SHARED] = shared
    try:
        if request.config.stash.get(_AS_POD, False):
            c: Cluster = request.getfixturevalue("cluster")
            yield shared.start_pod(c, c.image)
        else:
            yield shared.start_process()
    finally:
        shared.stop()


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only the tests that will run count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_AS_POD] = needs_pod(items) and not use_existing_cluster()
    group_users(items)
    using = users(items)
    if using:
        config.stash[_LAST_USER] = using[-1].nodeid


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Stops the shared vLLM after the last test that uses it, not at the end of the whole run."""
    yield
    if item.nodeid == item.config.stash.get(_LAST_USER, None) and _SHARED in item.config.stash:
        item.config.stash[_SHARED].stop()
