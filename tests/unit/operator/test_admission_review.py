"""The webhook's review of one request (reconcile/admission.py) with a reviewer that answers from a table
as the API server would, the SubjectAccessReview body it sends, and which Prometheus and token a spec gets
(reconcile/prometheus_access.py)."""

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from loadtest_operator.api.spec import Prometheus
from loadtest_operator.core.admission import Access, Requester
from loadtest_operator.core.fetches import FetchPolicy
from loadtest_operator.io.access import AccessReviewer, AccessReviewError, review_body
from loadtest_operator.io.kube import Kube
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.reconcile.admission import review
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.prometheus_access import prometheus_access
from loadtest_operator.reconcile.settings import OperatorSettings

ALICE = {"username": "alice", "groups": ["team-a"], "uid": "u-1"}
SPEC = {"target": {"url": "http://vllm:8000", "apiKeySecretRef": {"name": "vllm-key", "key": "token"}}}


class TableReviewer:
    def __init__(self, allowed: set[tuple[str, str, str]], fail: bool = False) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, Access]] = []
        self.fail = fail

    async def answers(self, user: Requester, accesses: Sequence[Access]) -> dict[Access, bool]:
        if self.fail:
            raise AccessReviewError("SubjectAccessReview of get secrets 'vllm-key' failed: HTTP 500 boom")
        self.asked += [(user.username, a) for a in accesses]
        return {a: (user.username, a.verb, a.name) in self.allowed for a in accesses}


def run(reviewer: TableReviewer, new: Any, old: Any = None, userinfo: Any = None, **settings: Any) -> Any:
    return asyncio.run(
        review(
            cast(AccessReviewer, reviewer),
            OperatorSettings(**settings),
            "LoadTest",
            "team-a",
            userinfo or ALICE,
            new,
            old,
        )
    )


def test_a_secret_the_author_may_read_is_allowed() -> None:
    reviewer = TableReviewer({("alice", "get", "vllm-key")})
    assert run(reviewer, {"spec": SPEC}).allowed
    assert reviewer.asked == [("alice", Access("get", "secrets", "vllm-key", "team-a"))]


def test_a_secret_the_author_may_not_read_is_refused() -> None:
    verdict = run(TableReviewer(set()), {"spec": SPEC})
    assert not verdict.allowed
    assert "user 'alice' may not get secrets 'vllm-key'" in verdict.message


def test_an_unchanged_spec_is_not_reviewed_again() -> None:
    reviewer = TableReviewer(set())
    assert run(
        reviewer, {"spec": SPEC, "metadata": {}}, {"spec": SPEC, "metadata": {"finalizers": ["f"]}}
    ).allowed
    assert reviewer.asked == []


def test_the_operators_own_writes_are_trusted_but_the_image_is_still_checked() -> None:
    reviewer = TableReviewer(set())
    op = {"username": "system:serviceaccount:ops:llmload"}
    trusted = ["system:serviceaccount:ops:llmload"]
    assert run(reviewer, {"spec": SPEC}, userinfo=op, trusted_users=trusted).allowed
    assert reviewer.asked == []
    evil = {"spec": {**SPEC, "loadGenerator": {"image": "evil:1"}}}
    assert not run(reviewer, evil, userinfo=op, trusted_users=trusted).allowed


def test_a_review_that_fails_refuses() -> None:
    verdict = run(TableReviewer(set(), fail=True), {"spec": SPEC})
    assert not verdict.allowed
    assert "could not check your rights" in verdict.message
    assert "HTTP 500" in verdict.message


def test_the_subject_access_review_is_asked_as_the_author_with_groups_and_extra() -> None:
    user = Requester("alice", "u-1", ("team-a", "system:authenticated"), {"scopes": ("a",)})
    body = review_body(user, Access("update", "deployments", "vllm", "ns", group="apps", subresource="scale"))
    assert body == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "alice",
            "uid": "u-1",
            "groups": ["team-a", "system:authenticated"],
            "extra": {"scopes": ["a"]},
            "resourceAttributes": {
                "namespace": "ns", "verb": "update", "group": "apps", "resource": "deployments",
                "name": "vllm", "subresource": "scale",
            },
        },
    }  # fmt: skip


# -- Prometheus: which URL, which token ---------------------------------------------------------------


class SecretKube:
    def __init__(self, secret: dict[str, Any] | None) -> None:
        self.obj = secret
        self.reads = 0

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.obj


def access(prometheus: dict[str, Any] | None, kube: SecretKube, **settings: Any) -> Any:
    s = OperatorSettings(**settings)
    ctx = Context(
        kube=cast(Kube, kube),
        settings=s,
        metrics=OperatorMetrics(),
        store=None,
        fetches=FetchPolicy(prometheus_url=s.prometheus_url),
        resolver=prom_resolver,  # no DNS question leaves the machine
    )
    spec = Prometheus.model_validate(prometheus) if prometheus is not None else None
    got = asyncio.run(prometheus_access(ctx, "team-a", spec))
    if isinstance(got, str):
        return got
    assert got.pin is not None
    assert got.pin.addresses == ("10.0.0.9",)  # the queries go to the checked address
    return got.url, got.token


async def prom_resolver(host: str, port: int) -> list[str]:
    assert (host, port) == ("prom", 9090)
    return ["10.0.0.9"]


TOKEN = {"type": "Opaque", "metadata": {}, "data": {"token": "dG9rZW4="}}
REF = {"bearerTokenSecretRef": {"name": "prom-token", "key": "token"}}


def test_the_operators_own_token_goes_only_to_its_own_prometheus() -> None:
    kube = SecretKube(None)
    own = {"prometheus_url": "http://prom:9090", "prometheus_bearer_token": "own-token"}
    assert access(None, kube, **own) == ("http://prom:9090", "own-token")
    assert kube.reads == 0


def test_a_token_secret_without_secret_access_is_refused_unread() -> None:
    kube = SecretKube(TOKEN)
    refused = access(REF, kube, prometheus_url="http://prom:9090", read_secrets=False)
    assert isinstance(refused, str)
    assert "rbac.readSecrets=false" in refused
    assert kube.reads == 0


@pytest.mark.parametrize(
    ("secret", "webhook", "expected"),
    [
        (TOKEN, True, ("http://prom:9090", "token")),
        (TOKEN, False, "llmload.io/allow-loadtest=true"),
        ({**TOKEN, "type": "kubernetes.io/service-account-token"}, True, "ServiceAccount token"),
        (None, True, "no Secret 'prom-token'"),
        ({**TOKEN, "data": {}}, True, "has no key 'token'"),
    ],
)
def test_a_token_secret_with_secret_access(secret: Any, webhook: bool, expected: Any) -> None:
    got = access(REF, SecretKube(secret), prometheus_url="http://prom:9090", admission_webhook=webhook)
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert isinstance(got, str)
        assert expected in got


def test_a_prometheus_whose_name_resolves_into_a_refused_range_is_not_queried() -> None:
    s = OperatorSettings(prometheus_url="http://prom:9090")

    async def rebound(host: str, port: int) -> list[str]:
        return ["10.0.0.9", "169.254.169.254"]  # e.g. an ExternalName Service turned to the metadata server

    ctx = Context(
        kube=cast(Kube, SecretKube(None)),
        settings=s,
        metrics=OperatorMetrics(),
        store=None,
        fetches=FetchPolicy(prometheus_url=s.prometheus_url),
        resolver=rebound,
    )
    refused = asyncio.run(prometheus_access(ctx, "team-a", None))
    assert isinstance(refused, str)
    assert "the operator's Prometheus (LLMLOAD_PROMETHEUS_URL): 'prom' is 169.254.169.254" in refused
