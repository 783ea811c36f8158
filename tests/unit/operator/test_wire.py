"""What leaves the operator for the API server: no None, no empty strings (the local 1.20 API server
validates "" as null and refuses it)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from loadtest_operator.api import Condition, ConditionStatus, LoadTestStatus, ResolvedTarget
from loadtest_operator.api.wire import strip_empty, to_wire
from loadtest_operator.core.conditions import dump_conditions, parse_conditions

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": "", "b": None, "c": "x"}, {"c": "x"}),
        ({"a": {"b": "", "c": 0, "d": False}}, {"a": {"c": 0, "d": False}}),
        ([{"m": ""}, {"m": "y"}], [{}, {"m": "y"}]),
        ({"list": ["", "x"]}, {"list": ["", "x"]}),  # list items are data, not unset fields
        ("", ""),
    ],
)
def test_strip_empty(value: Any, expected: Any) -> None:
    assert strip_empty(value) == expected


def test_empty_condition_message_is_left_out_and_read_back_as_empty() -> None:
    condition = Condition(
        type="Accepted", status=ConditionStatus.TRUE, reason="Valid", last_transition_time=NOW
    )
    (wire,) = dump_conditions([condition])
    assert "message" not in wire
    assert parse_conditions([wire]) == [condition]


def test_status_to_wire_is_camel_case_without_empties() -> None:
    status = LoadTestStatus(summary="", target=ResolvedTarget(display="service/vllm:8000", model=None))
    assert to_wire(status) == {"target": {"display": "service/vllm:8000"}}
