"""Whether the admission webhook can have reviewed an object (core/reviewed.py): the pure decision."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest_operator.core.reviewed import hook_covers, review_gap
from loadtest_operator.core.selectors import selector_matches
from tests.unit.webhook_config import NAME, configuration

AFTER = "2026-06-01T10:00:00Z"  # the configuration is from 2026-01-01
NAMED = {"kubernetes.io/metadata.name": "team-a"}


def meta(created: str | None = AFTER, labels: dict[str, str] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": "lt", "namespace": "team-a", "labels": labels or {}}
    if created is not None:
        m["creationTimestamp"] = created
    return m


def gap(
    config: dict[str, Any] | None,
    m: dict[str, Any] | None = None,
    *,
    name: str | None = NAME,
    namespace_labels: dict[str, str] | None = NAMED,
    plural: str = "loadtests",
) -> str | None:
    return review_gap(
        config,
        name=name,
        kind="LoadTest",
        plural=plural,
        meta=m if m is not None else meta(),
        namespace_labels=namespace_labels,
    )


def test_an_object_created_after_a_covering_configuration_was_reviewed() -> None:
    assert gap(configuration()) is None
    assert gap(configuration(), plural="capacityrecommendations") is None
    assert gap(configuration(namespaces=["team-a", "team-b"])) is None
    assert (
        gap(configuration(object_selector={"matchLabels": {"tier": "bench"}}), meta(labels={"tier": "bench"}))
        is None
    )


@pytest.mark.parametrize(
    ("config", "m", "kwargs", "said"),
    [
        (configuration(), meta("2025-12-31T23:59:59Z"), {}, "was created at 2025-12-31T23:59:59+00:00, before"),
        (configuration(), meta("2026-01-01T00:00:00Z"), {}, "before the admission webhook"),  # same second
        (configuration(), meta(None), {}, "creation time"),
        (configuration(created=""), None, {}, "creation time"),
        (None, None, {}, f"'{NAME}' does not exist"),
        (configuration(), None, {"name": None}, "LLMLOAD_WEBHOOK_CONFIGURATION is unset"),
        (configuration(failure_policy="Ignore"), None, {}, "failurePolicy Ignore"),
        (configuration(plurals=("capacityrecommendations",)), None, {}, "does not send loadtests"),
        (configuration(namespaces=["team-b"]), None, {}, "does not select namespace 'team-a'"),
        # Kubernetes 1.20 does not set the name label itself: a namespace without it is not selected.
        (configuration(namespaces=["team-a"]), None, {"namespace_labels": {}}, "does not select namespace"),
        (configuration(namespaces=["team-a"]), None, {"namespace_labels": None}, "could not be read"),
        # An objectSelector lets an author's own labels skip the webhook: such an object was not reviewed.
        (
            configuration(object_selector={"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}),
            meta(labels={"skip": "yes"}),
            {},
            "has labels that",
        ),
    ],
    ids=["before", "same second", "no creation time", "config without time", "no configuration",
         "name unset", "Ignore", "other kind", "other namespace", "unlabelled namespace", "namespace unread",
         "object selector"],
)  # fmt: skip
def test_what_the_webhook_cannot_have_reviewed(
    config: dict[str, Any] | None, m: dict[str, Any] | None, kwargs: dict[str, Any], said: str
) -> None:
    message = gap(config, m, **kwargs)
    assert message is not None
    assert said in message


def test_one_failing_closed_webhook_among_the_covering_ones_is_enough() -> None:
    config = configuration()
    ignoring = configuration(failure_policy="Ignore")["webhooks"][0]
    config["webhooks"].append(ignoring)
    assert gap(config) is None


@pytest.mark.parametrize(
    ("rule", "covered"),
    [
        ({"apiGroups": ["llmload.io"], "resources": ["loadtests"], "operations": ["CREATE", "UPDATE"]}, True),
        ({"apiGroups": ["*"], "resources": ["*"], "operations": ["*"]}, True),
        ({"apiGroups": ["*"], "resources": ["*/*"], "operations": ["*"]}, True),
        ({"apiGroups": ["llmload.io"], "resources": ["loadtests"], "operations": ["CREATE"]}, False),  # no UPDATE
        ({"apiGroups": ["apps"], "resources": ["loadtests"], "operations": ["*"]}, False),
        ({"apiGroups": ["llmload.io"], "resources": ["loadtests/status"], "operations": ["*"]}, True),
        ({"apiGroups": ["llmload.io"], "resources": ["capacityrecommendations"], "operations": ["*"]}, False),
    ],
)  # fmt: skip
def test_which_rules_cover_loadtests(rule: dict[str, Any], covered: bool) -> None:
    assert hook_covers({"rules": [rule]}, "loadtests") is covered


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        (None, {}, True),
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {"a": "2"}, False),
    ],
)
def test_label_selectors(selector: dict[str, Any] | None, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches
