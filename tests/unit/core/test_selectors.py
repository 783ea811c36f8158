"""kubectl's label-selector syntax, parsed into the metav1.LabelSelector that selector_matches() and the
store's SQL match: every operator against label sets with and without the key, and what is refused."""

import pytest

from loadtest_operator.core.selectors import SelectorError, parse_selector, selector_matches

LABELS = {"app": "vllm", "tier": "prod", "example.com/team": "a"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("app=vllm", True),
        ("app==vllm", True),
        ("app = vllm", True),
        ("app=other", False),
        ("app!=other", True),
        ("app!=vllm", False),
        ("missing!=x", True),  # != holds for a run without the label, as in Kubernetes
        ("tier in (prod,staging)", True),
        ("tier in (staging)", False),
        ("tier notin (prod)", False),
        ("missing notin (prod)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("! app", False),
        ("example.com/team=a,app=vllm,tier in ( prod , dev )", True),
        ("app=vllm,missing", False),
        ("app=", False),
        ("empty=", False),
    ],
)
def test_each_requirement_matches_as_the_api_server_does(text: str, matches: bool) -> None:
    assert selector_matches(parse_selector(text), LABELS) is matches


def test_an_empty_value_matches_an_empty_label() -> None:
    assert selector_matches(parse_selector("empty="), {"empty": ""})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app=vllm,,tier=prod", "an empty requirement"),
        ("app=vllm,", "an empty requirement"),
        ("tier in (prod", "unbalanced parentheses"),
        ("tier in ()", "in needs at least one value"),
        ("replicas>2", "is not a requirement"),
        ("tier in prod", "is not a requirement"),
        ("-app=x", "its name must be 1-63"),
        ("Example.com/team=a", "its prefix must be a DNS subdomain"),
        ("app=-bad", "label value '-bad'"),
        ("app=" + "x" * 64, "at most 63"),
        (",".join(f"k{i}" for i in range(21)), "at most 20"),
    ],
)
def test_a_malformed_selector_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_selector(text)
