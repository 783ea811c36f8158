from __future__ import annotations

import re
from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import ROOT, Cluster, dump_namespace, fresh_namespace, wait_until


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


# `cluster` (the local node, session-wide) is in tests/conftest.py: the shared real vLLM needs it too.


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> None:
    """Every CRD of crds/ installed and served (what `helm install` would put in place)."""
    cluster.kubectl("apply", "-f", str(ROOT / "crds"))
    for plural in ("loadtests", "capacityrecommendations"):
        wait_until(
            lambda p=plural: cluster.kubectl("get", p, "-A", check=False).returncode == 0,  # type: ignore[misc]
            timeout=30,
            what=f"the {plural} CRD to be served",
        )


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
def namespace(cluster: Cluster, crds: None, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test; its pods, events and logs are printed when the test fails."""
    with fresh_namespace(cluster, re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())) as ns:
        yield ns
        if request.node.stash.get(_FAILED, False):
            print(f"\n==== state of namespace {ns} ====\n{dump_namespace(cluster, ns)}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault and fuzz suites' figures (tests/e2e/figures.py), as one table."""
    from tests.e2e.figures import ROWS, table

    if ROWS:
        terminalreporter.section("fault and fuzz figures")
        for line in table():
            terminalreporter.write_line(line)
