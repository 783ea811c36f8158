"""`llmload report NAME` reads the live object, and the stored run when the API server has none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from loadtest_operator.io.kube import KubeError, found_or_none


def raising(status: int) -> Callable[[str, str], dict[str, Any]]:
    def read(name: str, namespace: str) -> dict[str, Any]:
        raise ApiException(status=status, reason="Forbidden" if status == 403 else "Not Found")

    return read


def test_a_missing_object_is_none_and_other_errors_say_what_failed() -> None:
    assert found_or_none(lambda n, ns: {"metadata": {"name": n}}, "demo", "team") == {
        "metadata": {"name": "demo"}
    }
    assert found_or_none(raising(404), "demo", "team") is None
    with pytest.raises(KubeError, match=r"reading demo in namespace team: HTTP 403 Forbidden"):
        found_or_none(raising(403), "demo", "team")
