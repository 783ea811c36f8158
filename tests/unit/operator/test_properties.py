"""Property tests: invariants that must hold for every input, not only the table rows."""

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loadtest_operator.api import Condition, ConditionStatus
from loadtest_operator.core.conditions import set_condition
from loadtest_operator.core.names import label_value
from loadtest_operator.core.owner import Owner
from loadtest_operator.loadtest.builders.names import MAX_NAME_LENGTH, run_names
from loadtest_operator.loadtest.validation import validate_spec
from tests.unit.operator.specs import make_spec

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Valid LoadTest names: DNS subdomains up to 253 characters.
loadtest_names = st.from_regex(DNS_SUBDOMAIN, fullmatch=True).filter(lambda n: len(n) <= 253)


@given(name=loadtest_names, uid=st.uuids(), run_id=st.integers(0, 1_000_000_000), shard=st.integers(0, 63))
def test_object_names_are_valid_and_short(name: str, uid: object, run_id: int, shard: int) -> None:
    names = run_names(Owner(name=name, namespace="ns", uid=str(uid)), run_id)
    for full in (
        names.job(shard),
        names.result_config_map(shard),
        names.run_config_map,
        names.service_account,
    ):
        assert len(full) <= MAX_NAME_LENGTH
        assert DNS_SUBDOMAIN.fullmatch(full), full


@given(name=loadtest_names)
def test_label_values_are_valid(name: str) -> None:
    value = label_value(name)
    assert len(value) <= 63
    assert LABEL_VALUE.fullmatch(value), value


T0 = datetime(2026, 1, 1, tzinfo=UTC)
statuses = st.sampled_from(list(ConditionStatus))
updates = st.lists(
    st.tuples(st.sampled_from(["Accepted", "Running", "Succeeded"]), statuses, st.integers(1, 1000)),
    max_size=20,
)


@given(updates=updates)
def test_transition_time_moves_exactly_when_status_changes(
    updates: list[tuple[str, ConditionStatus, int]],
) -> None:
    conditions: list[Condition] = []
    clock = T0
    for type_, status, step in updates:
        clock += timedelta(seconds=step)
        before = {c.type: c for c in conditions}
        conditions = set_condition(conditions, type_, status, "Reason", "", now=clock)
        after = {c.type: c for c in conditions}
        changed = type_ not in before or before[type_].status != status
        assert after[type_].last_transition_time == (clock if changed else before[type_].last_transition_time)
        assert len(conditions) == len(after)  # one condition per type


@given(levels=st.lists(st.integers(1, 100_000), min_size=1, max_size=64))
def test_levels_are_accepted_exactly_when_sorted_and_unique(levels: list[int]) -> None:
    patch = {"load": {"levels": levels, "mode": "Rate", "requestsPerLevel": None, "levelDurationSeconds": 10}}
    reasons = {p.reason for p in validate_spec(make_spec(patch))}
    ok = levels == sorted(set(levels))
    assert ok == (not reasons & {"LevelsNotSorted", "LevelsNotUnique"})
