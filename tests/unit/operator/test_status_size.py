"""A LoadTest's status must stay far below what the API server takes: etcd refuses a request over 1.5 MiB
and the apiserver a body over 3 MiB, and status is rewritten on every reconcile.

The worst case is built from the models themselves: every field of every level filled, strings and lists
at their declared bounds, so a field added later is measured too. `pytest -s` prints the figures.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from annotated_types import MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from loadtest_operator.api import LevelResult, LoadTestConditionType, LoadTestStatus
from loadtest_operator.api.status import (
    MAX_ERROR_KINDS,
    MAX_SATURATION_REASON_LENGTH,
    MAX_SATURATION_REASONS,
    MAX_TURNS_SHOWN,
)
from loadtest_operator.api.validation import CheckName
from loadtest_operator.loadtest.level_status import levels_status
from tests.unit.loadgen.helpers import run_of
from tests.unit.operator.test_level_status import SLO_RATE, rate_level

MIB = 1 << 20
ETCD_REQUEST_LIMIT = int(1.5 * MIB)
LEVELS = 64  # spec.load.levels holds at most 64
# Where a model sets no bound (free text the operator writes, lists of pods): generous stand-ins.
UNBOUNDED_STRING = 256
UNBOUNDED_LIST = 64
# The longest a measured float prints as in JSON (17 significant digits).
LONG_FLOAT = 0.12345678901234568
WHEN = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)


def _max_len(info: FieldInfo | None) -> int | None:
    for meta in info.metadata if info else ():
        if isinstance(meta, MaxLen):
            return meta.max_length
    return None


def worst(annotation: Any, info: FieldInfo | None = None, key: str = "x") -> Any:
    """The largest value `annotation` allows (by JSON size), honouring max_length where it is set."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = FieldInfo.from_annotation(annotation)
        return worst(args[0], inner, key)
    if origin in (typing.Union, types.UnionType):
        return worst(next(a for a in args if a is not type(None)), info, key)
    if origin is typing.Literal:
        return max(args, key=lambda a: len(json.dumps(a)))
    if origin is list:
        count = _max_len(info) or UNBOUNDED_LIST
        return [worst(args[0], None, f"{key}{i}") for i in range(count)]
    if origin is dict:
        count = _max_len(info) or UNBOUNDED_LIST
        # Keys as long as loadgen's longest error kind and unique; values as large as a count gets.
        return {f"{key}_response_too_large_{i:04d}": worst(args[1]) for i in range(count)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        values = {name: worst(f.annotation, f, name) for name, f in annotation.model_fields.items()}
        return annotation.model_construct(**values)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return max(annotation, key=lambda e: len(str(e.value)))
    if annotation is bool:
        return False
    if annotation is int:
        return 10_000_000_000
    if annotation is float:
        return LONG_FLOAT
    if annotation is str:
        return "x" * (_max_len(info) or UNBOUNDED_STRING)
    if annotation is datetime:
        return WHEN
    raise TypeError(f"no worst case for {annotation!r}: extend worst() for it")


def size(model: BaseModel) -> int:
    return len(json.dumps(model.model_dump(mode="json", by_alias=True, exclude_none=True)))


def worst_status() -> LoadTestStatus:
    """Every field at its bound; conditions one per type (a list keyed by type), messages at 32 KiB."""
    status: LoadTestStatus = worst(LoadTestStatus)
    condition = (status.conditions or [])[0]
    conditions = [condition.model_copy(update={"type": t.value}) for t in LoadTestConditionType]
    return status.model_copy(update={"conditions": conditions, "levels": [worst(LevelResult)] * LEVELS})


def test_a_64_level_status_with_every_field_filled_stays_far_below_the_api_servers_limits() -> None:
    status = worst_status()
    per_level = size(worst(LevelResult))
    levels = len(json.dumps([lv.model_dump(mode="json", by_alias=True) for lv in status.levels or []]))
    total = size(status)
    print(
        f"\n[status size] worst level {per_level} B; {LEVELS} levels {levels} B; "
        f"whole status {total} B ({total / MIB:.2f} MiB, etcd takes {ETCD_REQUEST_LIMIT / MIB:.1f} MiB)"
    )

    assert per_level < 10 * 1024, "a level's status grew past 10 KiB: bound the field that grows"
    # Two thirds of etcd's limit at most: the rest is for spec, metadata and managedFields.
    assert total < ETCD_REQUEST_LIMIT * 2 // 3, f"status is {total} B of etcd's {ETCD_REQUEST_LIMIT}"


def test_a_typical_level_is_a_fraction_of_the_worst_case() -> None:
    level = rate_level([0] * 50 + [300_000] * 50, errors={"timeout": 4, "http_503": 1})
    (typical,) = levels_status(run_of([level], SLO_RATE))
    print(f"\n[status size] typical Rate level without GPU figures {size(typical)} B")
    assert size(typical) < size(worst(LevelResult)) // 2


def test_the_worst_case_really_fills_what_can_grow() -> None:
    level = worst(LevelResult).model_dump(mode="json", by_alias=True, exclude_none=True)
    # The bounded collections are at their bounds, and every figure is there.
    assert len(level["errorsByKind"]) == MAX_ERROR_KINDS
    assert len(level["saturation"]["reasons"]) == MAX_SATURATION_REASONS
    assert {len(r) for r in level["saturation"]["reasons"]} == {MAX_SATURATION_REASON_LENGTH}
    assert len(level["ttftByTurn"]) == MAX_TURNS_SHOWN
    assert len(level["validation"]["checks"]) == len(CheckName)
    for name in ("ttft", "tpot", "itl", "e2e", "ttftFromSend", "e2eFromSend", "scheduleLag"):
        assert set(level[name]) == {"p50", "p90", "p95", "p99", "p999", "mean", "count", "stddev"}, name
    assert "gpu" in level
    assert "server" in level
