"""Where the operator itself may send requests (pure)."""

import pytest

from loadtest_operator.core.fetches import FetchPolicy, networks

POLICY = FetchPolicy(refused=networks(["169.254.0.0/16", "fe80::/10", "198.18.0.1"]))


@pytest.mark.parametrize(
    ("addresses", "refused_by"),
    [
        (["169.254.169.254"], "169.254.0.0/16"),
        (["fe80::1%eth0"], "fe80::/10"),
        (["::ffff:169.254.169.254"], "169.254.0.0/16"),  # IPv4-mapped
        (["10.0.0.5", "198.18.0.1"], "198.18.0.1/32"),  # any address of the name counts
        (["198.19.0.10"], None),
        ([], None),
    ],
)
def test_refused_ranges(addresses: list[str], refused_by: str | None) -> None:
    message = POLICY.refused_address("http://metadata:80", addresses, "spec.target")
    if refused_by is None:
        assert message is None
    else:
        assert message is not None
        assert message.startswith("spec.target: 'metadata' is ")
        assert f"in {refused_by}" in message


def test_a_bad_range_names_itself() -> None:
    with pytest.raises(ValueError, match="'not-a-range'"):
        networks(["not-a-range"])


def test_prometheus_only_the_charts_or_an_allowed_one() -> None:
    policy = FetchPolicy(
        prometheus_url="http://prom:9090/", allowed_prometheus_urls=("http://team-prom:9090",)
    )

    assert policy.prometheus_refusal(None, "f") is None
    assert policy.prometheus_refusal("http://prom:9090", "f") is None
    assert policy.prometheus_refusal("http://team-prom:9090/", "f") is None
    message = policy.prometheus_refusal("http://169.254.169.254", "spec.prometheus.url")
    assert message is not None
    assert "'http://169.254.169.254' is not a Prometheus the operator may query" in message
    assert "http://prom:9090/, http://team-prom:9090" in message


def test_the_api_servers_addresses_are_refused_for_targets_not_for_the_platforms_prometheus() -> None:
    policy = FetchPolicy(refused=networks(["169.254.0.0/16"]), api_server=networks(["198.18.0.1"]))
    assert policy.refused_address("http://api:6443", ["198.18.0.1"], "spec.target") is not None
    assert policy.refused_address("http://prom:9090", ["198.18.0.1"], "p", api_server=False) is None
    assert policy.refused_address("http://prom:9090", ["169.254.169.254"], "p", api_server=False) is not None
