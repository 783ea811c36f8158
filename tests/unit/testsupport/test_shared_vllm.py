"""The shared real vLLM's decisions on the collected tests: pod or process, their order, the last user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest

from tests.shared_vllm import FIXTURE, group_users, needs_pod, users


@dataclass
class Item:
    nodeid: str
    fixturenames: tuple[str, ...] = ()


def items(*specs: str) -> list[pytest.Item]:
    """`path` for a test that does not use the server, `path*` for one that does."""
    made: list[Any] = [Item(s.rstrip("*"), (FIXTURE,) if s.endswith("*") else ()) for s in specs]
    return cast(list[pytest.Item], made)


def ids(found: list[pytest.Item]) -> list[str]:
    return [i.nodeid for i in found]


def test_the_users_are_moved_next_to_the_first_in_their_order() -> None:
    found = items("tests/e2e/a", "tests/e2e/test_vllm.py::x*", "tests/integration/a",
                  "tests/integration/vllm/t::y*", "tests/integration/vllm/t::z*", "tests/unit/a")  # fmt: skip
    group_users(found)
    assert ids(found) == ["tests/e2e/a", "tests/e2e/test_vllm.py::x", "tests/integration/vllm/t::y",
                          "tests/integration/vllm/t::z", "tests/integration/a", "tests/unit/a"]  # fmt: skip
    assert ids(users(found)) == ["tests/e2e/test_vllm.py::x", "tests/integration/vllm/t::y",
                                 "tests/integration/vllm/t::z"]  # fmt: skip


def test_nothing_moves_without_users_or_when_they_are_together() -> None:
    plain = items("a", "b", "c")
    group_users(plain)
    assert ids(plain) == ["a", "b", "c"]
    together = items("a", "b*", "c*", "d")
    group_users(together)
    assert ids(together) == ["a", "b", "c", "d"]


def test_a_pod_only_when_an_e2e_test_uses_the_server() -> None:
    assert needs_pod(items("tests/e2e/test_vllm.py::x*", "tests/integration/vllm/t::y*"))
    assert not needs_pod(items("tests/integration/vllm/t::y*", "tests/e2e/test_smoke.py::s"))
    assert not needs_pod(items("tests/e2e/test_smoke.py::s"))
