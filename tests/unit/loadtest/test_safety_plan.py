"""What the operator refuses to use on an author's behalf, through the real observer and plan: an image
outside the allow-list, a ServiceAccount token, a Secret that did not opt in where no webhook reviewed the
author, a target in a refused range, and a Prometheus the chart does not allow. The operator that reads no
Secrets does not read one."""

from typing import Any

from loadtest_operator.core.fetches import FetchPolicy, networks
from loadtest_operator.reconcile.settings import OperatorSettings
from tests.unit.loadtest.test_plan import SPEC, Harness
from tests.unit.operator.specs import DELETE, merged

KEYED = merged(SPEC, {"target": {"apiKeySecretRef": {"name": "vllm-key", "key": "token"}}})


def secret(kind: str = "Opaque", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "kind": "Secret",
        "type": kind,
        "metadata": {"name": "vllm-key", "labels": labels or {}},
        "data": {"token": "c2VjcmV0LXZhbHVl"},
    }


def harness(spec: dict[str, Any], **settings: Any) -> Harness:
    h = Harness(spec)
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
