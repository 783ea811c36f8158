"""What the operator refuses to use on an author's behalf, through the real observer and plan: an image
outside the allow-list, a ServiceAccount token, a Secret that did not opt in where no webhook reviewed the
author, a target in a refused range, and a Prometheus the chart does not allow. The operator that reads no
Secrets does not read one."""

from typing import Any

import pytest

from loadtest_operator.core.fetches import FetchPolicy, networks
from loadtest_operator.reconcile.settings import OperatorSettings
from tests.unit.loadtest.test_plan import SPEC, Harness
from tests.unit.operator.specs import DELETE, merged
from tests.unit.webhook_config import NAME as WEBHOOK
from tests.unit.webhook_config import configuration

KEYED = merged(SPEC, {"target": {"apiKeySecretRef": {"name": "vllm-key", "key": "token"}}})


def secret(kind: str = "Opaque", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "kind": "Secret",
        "type": kind,
        "metadata": {"name": "vllm-key", "labels": labels or {}},
        "data": {"token": "c2VjcmV0LXZhbHVl"},
    }


CREATED = "2026-12-01T11:00:00Z"  # the LoadTest's creation: after the chart's webhook (INSTALLED)


def harness(spec: dict[str, Any], **settings: Any) -> Harness:
    h = Harness(spec)
    h.body["metadata"]["creationTimestamp"] = CREATED
    if settings.get("admission_webhook"):
        settings.setdefault("webhook_configuration", WEBHOOK)
        h.kube.put(configuration())
    h.ctx.settings = OperatorSettings(**settings)
    return h


def message(h: Harness) -> str:
    return str(next(c for c in h.body["status"]["conditions"] if c["type"] == "Accepted")["message"])


def test_an_image_outside_the_allow_list_is_refused() -> None:
    h = harness(merged(SPEC, {"loadGenerator": {"image": "docker.io/evil/miner:1"}}))
    h.tick()

    assert h.condition("Accepted") == ("False", "ImageNotAllowed")
    assert "'docker.io/evil/miner:1' is not in the operator's image allow-list" in message(h)
    assert h.kube.created == []


def test_an_allowed_image_runs() -> None:
    h = harness(
        merged(SPEC, {"loadGenerator": {"image": "registry.corp/llmload/loadgen:2"}}),
        allowed_images=["registry.corp/llmload/*"],
    )
    h.tick()

    assert h.condition("Accepted") == ("True", "Valid")


def test_a_service_account_token_is_never_sent() -> None:
    h = harness(KEYED, admission_webhook=True)
    h.kube.put(secret("kubernetes.io/service-account-token"))
    h.tick()

    assert h.condition("Accepted") == ("False", "ServiceAccountTokenRefused")
    assert "c2VjcmV0LXZhbHVl" not in str(h.body["status"])


def test_without_a_webhook_a_secret_must_opt_in() -> None:
    h = harness(KEYED)  # no webhook: the operator cannot know the author may read the Secret
    h.kube.put(secret())
    h.tick()
    assert h.condition("Accepted") == ("False", "NotOptedIn")
    assert "kubectl label secret vllm-key llmload.io/allow-loadtest=true" in message(h)

    labelled = harness(KEYED)
    labelled.kube.put(secret(labels={"llmload.io/allow-loadtest": "true"}))
    labelled.tick()
    assert labelled.condition("Accepted") == ("True", "Valid")


def test_with_the_webhook_and_no_secret_access_the_operator_reads_no_secret() -> None:
    h = harness(KEYED, admission_webhook=True, read_secrets=False)
    reads: list[str] = []
    original = h.kube.secret

    async def spy(namespace: str, name: str) -> dict[str, Any] | None:
        reads.append(name)
        return await original(namespace, name)

    h.kube.secret = spy  # type: ignore[method-assign]
    h.tick()

    assert reads == []
    assert h.condition("Accepted") == ("True", "Valid")  # the shard's secretKeyRef is the key's check


def test_a_target_in_a_refused_range_is_refused_and_never_fetched() -> None:
    spec = merged(
        SPEC,
        {
            "target": {"serviceRef": DELETE, "url": "http://169.254.169.254"},
            "loadGenerator": {"placement": "Anywhere"},
        },
    )
    h = harness(merged(spec, {"target": {"model": DELETE}}))
    fetched: list[str] = []

    async def first_model(target: Any) -> str | None:
        fetched.append(target.url)
        return "m"

    h.ctx.models.first_model = first_model  # type: ignore[method-assign]
    h.tick()

    assert h.condition("Accepted") == ("False", "AddressRefused")
    assert "'169.254.169.254' is 169.254.169.254, in 169.254.0.0/16" in message(h)
    assert fetched == []


def test_the_api_servers_own_address_is_refused() -> None:
    h = harness(SPEC)
    h.ctx.fetches = FetchPolicy(refused=networks(["198.19.0.10"]))  # the Service's address, here
    h.tick()

    assert h.condition("Accepted") == ("False", "AddressRefused")


# -- objects the webhook never reviewed (core/reviewed.py) ---------------------------------------------


def test_a_loadtest_created_before_the_webhook_is_held_to_the_opt_in_rule() -> None:
    h = harness(KEYED, admission_webhook=True)
    h.kube.put(configuration(created="2026-12-01T11:30:00Z"))  # installed after the LoadTest was created
    h.kube.put(secret())
    h.tick()

    assert h.condition("Accepted") == ("False", "NotOptedIn")
    assert "the admission webhook never checked that you may use it" in message(h)
    assert f"was created at 2026-12-01T11:00:00+00:00, before the admission webhook '{WEBHOOK}'" in message(h)
    assert "delete this object and create it again" in message(h)
    assert h.kube.created == []

    labelled = harness(KEYED, admission_webhook=True)
    labelled.kube.put(configuration(created="2026-12-01T11:30:00Z"))
    labelled.kube.put(secret(labels={"llmload.io/allow-loadtest": "true"}))
    labelled.tick()
    assert labelled.condition("Accepted") == ("True", "Valid")  # opted in: usable without a review


def test_a_loadtest_created_after_the_webhook_needs_no_opt_in() -> None:
    h = harness(KEYED, admission_webhook=True)
    h.kube.put(secret())
    h.tick()
    assert h.condition("Accepted") == ("True", "Valid")


@pytest.mark.parametrize(
    ("installed", "said"),
    [
        (None, f"the ValidatingWebhookConfiguration '{WEBHOOK}' does not exist"),
        (configuration(failure_policy="Ignore"), "failurePolicy Ignore"),
        (configuration(namespaces=["team-b"]), "does not select namespace"),
        (configuration(plurals=("capacityrecommendations",)), "does not send loadtests to the operator"),
        (configuration(created=CREATED), "before the admission webhook"),  # the same second: not after
    ],
    ids=["deleted", "Ignore", "other namespaces", "other kinds", "same second"],
)
def test_a_webhook_that_did_not_cover_the_loadtest_reviewed_nothing(
    installed: dict[str, Any] | None, said: str
) -> None:
    h = harness(KEYED, admission_webhook=True)
    del h.kube.objects[("ValidatingWebhookConfiguration", WEBHOOK)]
    if installed is not None:
        h.kube.put(installed)
    h.kube.put({"kind": "Namespace", "metadata": {"name": "bench", "labels": {}}})
    h.kube.put(secret())
    h.tick()

    assert h.condition("Accepted") == ("False", "NotOptedIn")
    assert said in message(h)


def test_unreviewed_with_no_secret_access_is_refused_unread() -> None:
    h = harness(KEYED, admission_webhook=True, read_secrets=False)
    h.kube.put(configuration(created="2026-12-01T11:30:00Z"))
    reads: list[str] = []

    async def spy(namespace: str, name: str) -> dict[str, Any] | None:
        reads.append(name)
        return None

    h.kube.secret = spy  # type: ignore[method-assign]
    h.tick()

    assert reads == []
    assert h.condition("Accepted") == ("False", "NotOptedIn")
    assert "the operator reads no Secrets" in message(h)
    assert "delete this object and create it again" in message(h)


def test_a_child_is_only_as_reviewed_as_its_capacity_recommendation() -> None:
    # The webhook lets the operator's own writes through: a child LoadTest created after the webhook, from
    # a CapacityRecommendation created before it, carries a spec nobody reviewed.
    h = harness(KEYED, admission_webhook=True)
    h.body["metadata"]["ownerReferences"] = [
        {"apiVersion": "llmload.io/v1alpha1", "kind": "CapacityRecommendation", "name": "sizing",
         "uid": "cr-uid", "controller": True}
    ]  # fmt: skip
    parent: dict[str, Any] = {"kind": "CapacityRecommendation",
              "metadata": {"name": "sizing", "namespace": "bench", "creationTimestamp": "2025-06-01T00:00:00Z"}}  # fmt: skip
    h.kube.put(parent)
    h.kube.put(secret())
    h.tick()
    assert h.condition("Accepted") == ("False", "NotOptedIn")
    assert "it was copied from CapacityRecommendation 'sizing'" in message(h)

    h = harness(KEYED, admission_webhook=True)
    h.body["metadata"]["ownerReferences"] = [
        {"apiVersion": "llmload.io/v1alpha1", "kind": "CapacityRecommendation", "name": "sizing",
         "uid": "cr-uid", "controller": True}
    ]  # fmt: skip
    h.kube.put({**parent, "metadata": {**parent["metadata"], "creationTimestamp": "2026-11-30T00:00:00Z"}})
    h.kube.put(secret())
    h.tick()
    assert h.condition("Accepted") == ("True", "Valid")


# -- the target's name: resolved once, every address judged, the checked ones fetched -------------------

NAMED_TARGET = merged(
    SPEC,
    {"target": {"serviceRef": DELETE, "url": "http://vllm.team:8000", "model": DELETE},
     "loadGenerator": {"placement": "Anywhere"}},
)  # fmt: skip


def test_a_target_name_with_one_refused_address_is_refused_unfetched() -> None:
    h = harness(NAMED_TARGET)
    asked: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["10.0.0.5", "169.254.169.254"]

    h.ctx.resolver = resolver
    fetched: list[Any] = []

    async def first_model(target: Any) -> str | None:
        fetched.append(target)
        return "m"

    h.ctx.models.first_model = first_model  # type: ignore[method-assign]
    h.tick()

    assert h.condition("Accepted") == ("False", "AddressRefused")
    assert "'vllm.team' is 169.254.169.254, in 169.254.0.0/16" in message(h)
    assert asked == [("vllm.team", 8000)]
    assert fetched == []


def test_discovery_gets_the_addresses_that_were_checked() -> None:
    h = harness(NAMED_TARGET)
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["10.0.0.5"]

    h.ctx.resolver = resolver
    fetched: list[Any] = []

    async def first_model(target: Any) -> str | None:
        fetched.append(target)
        return "m"

    async def server_version(target: Any) -> str | None:
        fetched.append(target)
        return "0.9.1"

    h.ctx.models.first_model = first_model  # type: ignore[method-assign]
    h.ctx.models.server_version = server_version  # type: ignore[method-assign]
    h.tick()

    assert h.condition("Accepted") == ("True", "Valid")
    assert [(t.url, t.host, t.addresses) for t in fetched] == [
        ("http://vllm.team:8000", "vllm.team", ("10.0.0.5",))
    ] * 2
    assert asked == ["vllm.team"]  # once, for both requests
