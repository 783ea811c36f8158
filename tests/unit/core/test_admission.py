"""The admission decision (pure): which rights an author needs for a spec, what the answer says, and the
opt-in rules where no webhook runs."""

from typing import Any

import pytest

from loadtest_operator.core.admission import (
    Access,
    Requester,
    decide,
    how_to_get,
    image_allowed,
    image_refusal,
    is_service_account_token,
    opted_in,
    requirements,
    reviews,
    spec_changed,
)

ALICE = Requester("alice", uid="u-1", groups=("team-a", "system:authenticated"), extra={"scopes": ("x",)})
KEY = {"apiKeySecretRef": {"name": "vllm-key", "key": "token"}}
PROM = {"prometheus": {"bearerTokenSecretRef": {"name": "prom-token", "key": "token"}}}


def test_a_loadtest_needs_get_on_each_secret_it_names() -> None:
    needed = requirements("LoadTest", "team-a", {"target": KEY, **PROM})

    assert [(r.field, r.any_of) for r in needed] == [
        ("spec.target.apiKeySecretRef", (Access("get", "secrets", "vllm-key", "team-a"),)),
        ("spec.prometheus.bearerTokenSecretRef", (Access("get", "secrets", "prom-token", "team-a"),)),
    ]


def test_a_spec_naming_nothing_needs_no_review() -> None:
    assert requirements("LoadTest", "team-a", {"target": {"url": "http://vllm:8000"}}) == []


@pytest.mark.parametrize("scale", [True, False])
def test_scaling_needs_patch_on_the_deployment_or_update_on_its_scale(scale: bool) -> None:
    spec = {"target": {"deploymentRef": {"name": "vllm"}}, "scaleDeployment": scale}
    needed = requirements("CapacityRecommendation", "team-a", spec)

    if not scale:
        assert needed == []
        return
    (requirement,) = needed
    assert requirement.field == "spec.target.deploymentRef"
    assert requirement.any_of == (
        Access("patch", "deployments", "vllm", "team-a", group="apps"),
        Access("update", "deployments", "vllm", "team-a", group="apps", subresource="scale"),
    )
    # A LoadTest has no scaleDeployment: the same fields ask for nothing.
    assert requirements("LoadTest", "team-a", spec) == []


def test_reviews_are_asked_once_each() -> None:
    same = {"target": KEY, "prometheus": {"bearerTokenSecretRef": {"name": "vllm-key", "key": "t"}}}
    assert reviews(requirements("LoadTest", "ns", same)) == [Access("get", "secrets", "vllm-key", "ns")]


def test_attributes_are_a_subject_access_reviews_resource_attributes() -> None:
    scale = Access("update", "deployments", "vllm", "ns", group="apps", subresource="scale")
    assert scale.attributes() == {
        "namespace": "ns", "verb": "update", "group": "apps", "resource": "deployments",
        "name": "vllm", "subresource": "scale",
    }  # fmt: skip
    assert "subresource" not in Access("get", "secrets", "k", "ns").attributes()


def test_allowed_when_every_requirement_has_an_allowed_alternative() -> None:
    needed = requirements(
        "CapacityRecommendation",
        "team-a",
        {"target": {**KEY, "deploymentRef": {"name": "vllm"}}, "scaleDeployment": True},
    )
    answers = {a: a.verb in ("get", "update") for a in reviews(needed)}  # may update the scale, not patch

    assert decide(ALICE, needed, answers).allowed


def test_a_refusal_names_the_field_the_missing_right_why_and_how_to_get_it() -> None:
    needed = requirements("LoadTest", "team-a", {"target": KEY})
    verdict = decide(ALICE, needed, {})  # unanswered counts as refused

    assert not verdict.allowed
    message = verdict.message
    assert message.startswith("spec.target.apiKeySecretRef: user 'alice' may not get secrets 'vllm-key'")
    assert "in namespace 'team-a'" in message
    assert "sends this Secret's value to the target" in message
    assert (
        "kubectl create role llmload-get-secrets-vllm-key -n team-a --verb=get --resource=secrets "
        "--resource-name=vllm-key && kubectl create rolebinding llmload-get-secrets-vllm-key -n team-a "
        "--role=llmload-get-secrets-vllm-key --user=alice"
    ) in message


def test_a_scale_refusal_names_both_alternatives_and_a_service_account_subject() -> None:
    bot = Requester("system:serviceaccount:ci:deployer")
    needed = requirements(
        "CapacityRecommendation",
        "team-a",
        {"target": {"deploymentRef": {"name": "vllm"}}, "scaleDeployment": True},
    )
    message = decide(bot, needed, {a: False for a in reviews(needed)}).message

    assert "may neither patch deployments 'vllm' nor update deployments/scale 'vllm'" in message
    assert "--resource=deployments.apps" in message
    assert "--serviceaccount=ci:deployer" in message


def test_every_refusal_is_in_the_message() -> None:
    needed = requirements("LoadTest", "ns", {"target": KEY, **PROM})
    image = image_refusal({"loadGenerator": {"image": "evil/miner:1"}}, ["localhost/llmload/llmload:dev"])
    verdict = decide(ALICE, needed, {}, image)

    assert verdict.message.count(" | ") == 2
    assert "'evil/miner:1' is not in the operator's image allow-list ('localhost/llmload/llmload:dev')" in (
        verdict.message
    )


@pytest.mark.parametrize(
    ("image", "allowed", "ok"),
    [
        ("localhost/llmload/llmload:dev", ["localhost/llmload/llmload:dev"], True),
        ("localhost/llmload/llmload:dev2", ["localhost/llmload/llmload:dev"], False),
        ("registry.corp/llmload/loadgen:1.2", ["registry.corp/llmload/*"], True),
        ("registry.corp/other/loadgen:1.2", ["registry.corp/llmload/*"], False),
        ("anything", [], False),
    ],
)
def test_image_allow_list(image: str, allowed: list[str], ok: bool) -> None:
    assert image_allowed(image, allowed) is ok


def test_an_unset_image_is_always_allowed() -> None:
    assert image_refusal({}, []) is None
    assert image_refusal({"loadGenerator": {"parallelism": 2}}, []) is None


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        (None, {"spec": {"a": 1}}, True),
        ({"spec": {"a": 1}, "metadata": {"finalizers": ["x"]}}, {"spec": {"a": 1}, "metadata": {}}, False),
        ({"spec": {"a": 1}}, {"spec": {"a": 2}}, True),
    ],
)
def test_only_spec_changes_are_reviewed(old: Any, new: Any, changed: bool) -> None:
    assert spec_changed(old, new) is changed


def test_requester_from_userinfo() -> None:
    user = Requester.of(
        {"username": "alice", "uid": "u-1", "groups": ["team-a"], "extra": {"scopes": ["a", "b"]}}
    )
    assert user == Requester("alice", "u-1", ("team-a",), {"scopes": ("a", "b")})


def test_opt_in_and_service_account_tokens() -> None:
    assert opted_in({"metadata": {"labels": {"llmload.io/allow-loadtest": "true"}}})
    assert not opted_in({"metadata": {"labels": {"llmload.io/allow-loadtest": "yes"}}})
    assert not opted_in(None)
    assert is_service_account_token({"type": "kubernetes.io/service-account-token"})
    assert not is_service_account_token({"type": "Opaque"})


def test_how_to_get_trims_the_role_name_to_a_valid_length() -> None:
    access = Access("get", "secrets", "k" * 80, "ns")
    role = how_to_get(access, ALICE).split()[3]
    assert len(role) <= 63
