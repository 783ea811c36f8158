"""Names, labels, deadline, ConfigMaps and RBAC of a run."""

from typing import Any

import pytest

from loadtest_operator.core.names import label_value
from loadtest_operator.core.owner import Owner
from loadtest_operator.loadtest.builders.configmaps import (
    RunConfigTooLargeError,
    build_result_config_map,
    build_run_config_config_map,
)
from loadtest_operator.loadtest.builders.deadline import STARTUP_SLACK_SECONDS, shard_deadline_seconds
from loadtest_operator.loadtest.builders.labels import run_labels, run_selector
from loadtest_operator.loadtest.builders.names import MAX_NAME_LENGTH, run_names, run_token
from loadtest_operator.loadtest.builders.rbac import build_role, build_role_binding, build_service_account
from tests.unit.operator.specs import OWNER, make_spec

DNS_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_run_token_is_stable_and_separates_uids_and_runs() -> None:
    assert run_token("uid-a", 0) == run_token("uid-a", 0)
    assert len({run_token("uid-a", 0), run_token("uid-a", 1), run_token("uid-b", 0)}) == 3
    assert len(run_token("uid-a", 0)) == 6


@pytest.mark.parametrize("name", ["a", "llama-sweep", "x" * 63, "a" * 40 + "-" + "b" * 200, "a.b-c" * 40])
def test_every_name_fits_in_63_characters(name: str) -> None:
    names = run_names(Owner(name=name, namespace="ns", uid="u"), run_id=123)
    all_names = [
        names.job(63),
        names.result_config_map(63),
        names.run_config_map,
        names.service_account,
        names.role,
        names.role_binding,
    ]
    for full in all_names:
        assert len(full) <= MAX_NAME_LENGTH, full
        assert full[0].isalnum(), full
        assert full[-1].isalnum(), full


def test_truncation_never_leaves_a_dangling_dash() -> None:
    # The name is cut right after a dash at the budget boundary.
    names = run_names(Owner(name="a" * 45 + "-bcdef", namespace="ns", uid="u"), 0)
    assert "--" not in names.prefix


def test_short_names_are_kept_whole() -> None:
    assert run_names(OWNER, 0).job(0) == f"llama-sweep-{run_token(OWNER.uid, 0)}-shard-0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("llama", "llama"), ("a" * 70, "a" * 63), ("a" * 62 + ".b", "a" * 62), ("-x-", "x")],
)
def test_label_value(value: str, expected: str) -> None:
    assert label_value(value) == expected


def test_run_selector_is_part_of_every_label_set() -> None:
    labels = run_labels(OWNER, 3, "result", shard_index=2)
    assert run_selector(OWNER, 3).items() <= labels.items()
    assert labels["llmload.io/shard"] == "2"
    assert "llmload.io/shard" not in run_labels(OWNER, 3, "loadgen")


# (id, spec patch, expected activeDeadlineSeconds)
DEADLINE_CASES: list[tuple[str, dict[str, Any], int]] = [
    (
        "concurrency, requests: every request may time out",
        {"load": {"levels": [10], "requestsPerLevel": 100, "timeoutSeconds": 30}},
        STARTUP_SLACK_SECONDS + 10 * 30,
    ),
    (
        "duration: length plus one timeout per level",
        {
            "load": {
                "levels": [1, 2],
                "requestsPerLevel": None,
                "levelDurationSeconds": 60,
                "timeoutSeconds": 30,
            }
        },
        STARTUP_SLACK_SECONDS + 2 * (60 + 30),
    ),
    (
        "rate: sending time plus one timeout",
        {"load": {"mode": "Rate", "levels": [5], "requestsPerLevel": 100, "timeoutSeconds": 30}},
        STARTUP_SLACK_SECONDS + 20 + 30,
    ),
    (
        "rate with a concurrency cap: the cap can be the bottleneck",
        {
            "load": {
                "mode": "Rate",
                "levels": [50],
                "requestsPerLevel": 100,
                "maxConcurrency": 10,
                "timeoutSeconds": 30,
            }
        },
        STARTUP_SLACK_SECONDS + 10 * 30 + 30,
    ),
    (
        "warmup at the first level",
        {"load": {"levels": [10], "requestsPerLevel": 100, "warmupRequests": 20, "timeoutSeconds": 30}},
        STARTUP_SLACK_SECONDS + 2 * 30 + 10 * 30,
    ),
    ("explicit", {"loadGenerator": {"deadlineSeconds": 600}}, 600),
]


@pytest.mark.parametrize(
    ("patch", "seconds"), [c[1:] for c in DEADLINE_CASES], ids=[c[0] for c in DEADLINE_CASES]
)
def test_shard_deadline_seconds(patch: dict[str, Any], seconds: int) -> None:
    patch = {"loadGenerator": {"parallelism": 1}, **patch}
    assert shard_deadline_seconds(make_spec(patch)) == seconds


def test_run_config_config_map() -> None:
    cm = build_run_config_config_map(OWNER, 0, '{"levels": [1]}')
    assert cm["metadata"]["name"] == run_names(OWNER, 0).run_config_map
    assert cm["metadata"]["ownerReferences"][0]["uid"] == OWNER.uid
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "run-config"
    assert cm["data"] == {"run-config.json": '{"levels": [1]}'}


def test_run_config_too_large_for_a_config_map() -> None:
    with pytest.raises(RunConfigTooLargeError, match="bytes"):
        build_run_config_config_map(OWNER, 0, "x" * 1_000_001)


def test_result_config_map_is_empty_and_named_for_its_shard() -> None:
    cm = build_result_config_map(OWNER, 0, 3)
    assert cm["metadata"]["name"] == run_names(OWNER, 0).result_config_map(3)
    assert cm["metadata"]["labels"]["llmload.io/shard"] == "3"
    assert cm["data"] == {}


def test_role_can_only_write_this_runs_result_config_maps() -> None:
    names = run_names(OWNER, 0)
    role = build_role(OWNER, 0, shard_count=3)
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [names.result_config_map(i) for i in range(3)],
            "verbs": ["get", "update", "patch"],
        }
    ]
    # create/list/watch/delete cannot be limited by name, so they must never be granted.
    assert not {"create", "list", "watch", "delete", "*"} & set(role["rules"][0]["verbs"])


def test_role_binding_ties_the_service_account_to_the_role() -> None:
    names = run_names(OWNER, 0)
    binding = build_role_binding(OWNER, 0)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": names.role}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": names.service_account, "namespace": "bench"}
    ]


@pytest.mark.parametrize(
    "obj",
    [
        build_service_account(OWNER, 0),
        build_role(OWNER, 0, 1),
        build_role_binding(OWNER, 0),
        build_run_config_config_map(OWNER, 0, "{}"),
        build_result_config_map(OWNER, 0, 0),
    ],
    ids=lambda obj: str(obj["kind"]),
)
def test_every_object_is_owned_by_the_loadtest_in_its_namespace(obj: dict[str, Any]) -> None:
    (ref,) = obj["metadata"]["ownerReferences"]
    assert ref["controller"] is True
    assert ref["blockOwnerDeletion"] is True
    assert (ref["kind"], ref["name"], ref["uid"]) == ("LoadTest", OWNER.name, OWNER.uid)
    assert obj["metadata"]["namespace"] == OWNER.namespace
