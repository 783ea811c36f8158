"""Specs the API server would accept and then hurt: credentials in URLs, resource quantities a Job
cannot carry. Each is refused up front with the field and the fix."""

from decimal import Decimal
from typing import Any

import pytest

from loadtest_operator.capacity.validation import validate_capacity_spec
from loadtest_operator.core.quantity import parse_quantity
from loadtest_operator.loadtest.validation import validate_spec
from tests.unit.capacity.specs import make_spec as make_capacity_spec
from tests.unit.operator.specs import DELETE, make_spec


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("1", Decimal(1)), ("1Gi", Decimal(2**30)), ("2k", Decimal(2000)),
     ("1e3", Decimal(1000)), (".5", Decimal("0.5")), (2, Decimal(2)), ("1.5Mi", Decimal("1.5") * 2**20),
     ("lots", None), ("1GB", None), ("", None), ("1 Gi", None)],
)  # fmt: skip
def test_parse_quantity(text: Any, value: Decimal | None) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ({"target": {"serviceRef": DELETE, "url": "http://user:secret@10.1.2.3:8000"}, "loadGenerator": {"placement": "Anywhere"}}, "spec.target.url"),
        ({"prometheus": {"url": "http://admin:admin@127.0.0.1:9090"}}, "spec.prometheus.url"),
    ],
)  # fmt: skip
def test_credentials_in_a_url_are_refused(url: dict[str, Any], field: str) -> None:
    problems = validate_spec(make_spec(url))
    assert [(p.reason, p.field) for p in problems] == [("CredentialsInUrl", field)]
    assert "Secret" in problems[0].message
    assert "secret" not in problems[0].message  # the message never repeats the password


def test_a_capacity_recommendation_inherits_the_url_rule() -> None:
    spec = make_capacity_spec(prometheus={"url": "http://admin:pw@127.0.0.1:9090"})
    problems = validate_capacity_spec(spec)
    assert any("remove the user and password" in p.message for p in problems)


@pytest.mark.parametrize(
    ("resources", "field", "words"),
    [
        ({"requests": {"cpu": "lots"}}, "spec.loadGenerator.resources.requests.cpu", "not a resource quantity"),
        ({"limits": {"memory": "1GB"}}, "spec.loadGenerator.resources.limits.memory", "512Mi"),
        ({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}, "spec.loadGenerator.resources.requests.memory", "above its limit"),
    ],
)  # fmt: skip
def test_resources_the_api_server_would_refuse_are_refused_up_front(
    resources: dict[str, Any], field: str, words: str
) -> None:
    problems = validate_spec(make_spec({"loadGenerator": {"resources": resources}}))
    assert [(p.reason, p.field) for p in problems] == [("InvalidResources", field)]
    assert words in problems[0].message


def test_good_resources_pass() -> None:
    resources = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}
    assert validate_spec(make_spec({"loadGenerator": {"resources": resources}})) == []
