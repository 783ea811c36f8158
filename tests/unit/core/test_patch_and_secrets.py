"""The one merge-patch helper and the one Secret reader."""

import base64
from typing import Any

import pytest

from loadtest_operator.core.patch import merge_patch
from loadtest_operator.core.secrets import secret_text
from tests.unit.merge_patch import apply_merge_patch

OLD: dict[str, Any] = {
    "phase": "Running",
    "progress": {"completedRequests": 10, "currentLevel": 4},
    "conditions": [{"type": "Running", "status": "True"}],
    "summary": "old",
    "kopf": {"progress": {}},
}


@pytest.mark.parametrize(
    ("new", "patch"),
    [
        ({k: v for k, v in OLD.items() if k != "kopf"}, {}),  # nothing changed: nothing written
        ({**OLD, "phase": "Succeeded"}, {"phase": "Succeeded"}),
        ({**OLD, "progress": {"completedRequests": 20}}, {"progress": {"completedRequests": 20, "currentLevel": None}}),
        ({k: v for k, v in OLD.items() if k != "summary"}, {"summary": None}),
        ({**OLD, "conditions": [{"type": "Running", "status": "False"}]}, {"conditions": [{"type": "Running", "status": "False"}]}),
    ],
)  # fmt: skip
def test_merge_patch_turns_the_old_status_into_the_new(new: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch(OLD, new) == patch
    applied = apply_merge_patch(OLD, merge_patch(OLD, new))
    assert {k: v for k, v in applied.items() if k != "kopf"} == {k: v for k, v in new.items() if k != "kopf"}
    assert applied["kopf"] == OLD["kopf"]  # kopf's own bookkeeping is never nulled


def encoded(text: bytes) -> str:
    return base64.b64encode(text).decode()


@pytest.mark.parametrize(
    ("secret", "value"),
    [
        ({"data": {"token": encoded(b"s3cret\n")}}, "s3cret"),
        ({"data": {"other": encoded(b"x")}}, None),
        (None, None),
        ({"data": {"token": encoded(b"\xff\xfe")}}, None),  # not UTF-8
        ({"data": {"token": "not base64!"}}, None),
        ({"data": {"token": encoded(b"  \n")}}, None),
    ],
)
def test_secret_text(secret: dict[str, Any] | None, value: str | None) -> None:
    assert secret_text(secret, "token") == value
