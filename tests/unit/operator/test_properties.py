"""Property tests: invariants that must hold for every input, not only the table rows."""

import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.config import build_config
from loadtest_operator.api import Condition, ConditionStatus
from loadtest_operator.api.conditions import LoadTestReason
from loadtest_operator.core.conditions import set_condition
from loadtest_operator.core.names import label_value
from loadtest_operator.core.owner import Owner
from loadtest_operator.loadtest.builders.names import MAX_NAME_LENGTH, run_names
from loadtest_operator.loadtest.run_config import build_run_config, render_run_config
from loadtest_operator.loadtest.validation import validate_spec
from tests.unit.operator.specs import DELETE, make_spec

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


# Specs around the valid one, varied where the operator's rules and loadgen's could disagree: token
# distributions (stddev 0 and bounds around the mean included), the shared prefix, a dataset, mode, level
# length, SLO. Mostly well-formed, with a mistake now and then, so that both verdicts are common.
_rarely = st.integers(0, 19).map(lambda n: n == 0)
_lengths = st.integers(1, 2_000)


@st.composite
def distributions(draw: st.DrawFn) -> dict[str, object]:
    kind = draw(st.sampled_from(["Fixed", "Fixed", "Uniform", "Normal"]))
    uses = {"Fixed": {"mean"}, "Uniform": {"min", "max"}, "Normal": {"mean", "stddev", "min", "max"}}[kind]
    low, mid, high = sorted(draw(st.lists(_lengths, min_size=3, max_size=3)))
    values = {"min": low, "mean": mid, "max": high, "stddev": draw(st.sampled_from([0, 1, 8, 64, 300]))}
    if draw(_rarely):  # bounds out of order
        values["min"], values["max"] = values["max"], values["min"]
    out: dict[str, object] = {"distribution": kind}  # every parameter written: None replaces the base's
    for name, value in values.items():
        optional = kind == "Normal" and name in ("min", "max")
        wanted = name in uses and not (optional and draw(st.booleans()))
        out[name] = value if wanted != draw(_rarely) else None
    return out


@st.composite
def spec_patches(draw: st.DrawFn) -> dict[str, object]:
    dataset = {"name": "sharegpt", "key": "d.json"}
    source = draw(st.sampled_from([*["synthetic"] * 6, *["dataset"] * 2, "both", "neither"]))
    workload = {
        "inputTokens": draw(distributions()) if source in ("synthetic", "both") else DELETE,
        "datasetConfigMapRef": dataset if source in ("dataset", "both") else DELETE,
        "outputTokens": draw(st.sampled_from([DELETE, draw(distributions())]))
        if draw(_rarely)
        else {"distribution": "Fixed", "mean": draw(_lengths), "min": None, "max": None, "stddev": None},
        "sharedPrefixTokens": draw(st.sampled_from([*[0] * 4, 1, 15, 16, 100, 600, 2_000])),
    }
    rate = draw(st.booleans())
    length = draw(st.sampled_from([*["requests"] * 4, *["seconds"] * 2, "both", "neither"]))
    load = {
        "mode": "Rate" if rate else "Concurrency",
        "arrival": draw(st.sampled_from([DELETE, "Constant", "Poisson"]))
        if rate or draw(_rarely)
        else DELETE,
        "maxConcurrency": draw(st.integers(2, 64)) if rate and draw(st.booleans()) else DELETE,
        "requestsPerLevel": draw(st.integers(1, 400)) if length in ("requests", "both") else DELETE,
        "levelDurationSeconds": draw(st.integers(1, 600)) if length in ("seconds", "both") else DELETE,
        "warmupRequests": draw(st.integers(0, 50)),
        "timeoutSeconds": draw(st.integers(1, 3_600)),
    }
    slo = DELETE if draw(st.booleans()) else {"percentile": draw(st.integers(50, 100))}
    return {
        "workload": workload,
        "load": load,
        "slo": slo,
        "target": {"api": draw(st.sampled_from(["Chat", "Completions"]))},
    }


@settings(max_examples=300, deadline=None)
@given(patch=spec_patches())
def test_a_spec_the_operator_accepts_is_a_run_config_loadgen_accepts(patch: dict[str, object]) -> None:
    spec = make_spec(patch)
    problems = validate_spec(spec)
    # Every refusal has its own rule and reason: the net under them (loadgen's own verdict) catches nothing.
    assert LoadTestReason.RUN_CONFIG_INVALID not in {p.reason for p in problems}, problems
    if not problems:
        config = build_run_config(spec, "http://198.19.0.10:8000", None)
        assert build_config(json.loads(render_run_config(spec, "http://198.19.0.10:8000", None))) == config
