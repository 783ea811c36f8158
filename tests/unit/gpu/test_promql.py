"""PromQL construction: escaping, selectors (rendered and matched like Prometheus), window queries."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest_operator.gpu import promql
from loadtest_operator.gpu.promql import Matcher, escape_label_value, escape_regex, one_of, selector
from loadtest_operator.gpu.series import VLLM_TTFT


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
        ('\\"', '\\\\\\"'),
    ],
)
def test_label_values_are_escaped_like_go_strings(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f") | st.just("\n")
    )
)
def test_escaped_values_read_back_as_the_original(raw: str) -> None:
    # A PromQL double-quoted string takes Go's escapes, a superset of JSON's for these characters.
    assert json.loads(f'"{escape_label_value(raw)}"') == raw


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4), st.text(max_size=12))
def test_regex_alternation_matches_exactly_the_given_values(values: list[str], other: str) -> None:
    sel = selector(one_of("pod", values))
    for value in values:
        assert sel.matches({"pod": value})
    assert sel.matches({"pod": other}) == (other in values)


@pytest.mark.parametrize(
    ("values", "rendered"),
    [
        (["vllm-0"], 'pod="vllm-0"'),
        (["vllm-1", "vllm-0", "vllm-1"], 'pod=~"vllm-0|vllm-1"'),
        (["a.b", "c+d"], 'pod=~"a\\\\.b|c\\\\+d"'),
    ],
)
def test_one_of_renders_equality_or_an_escaped_alternation(values: list[str], rendered: str) -> None:
    assert one_of("pod", values).render() == rendered


def test_one_of_needs_a_value() -> None:
    with pytest.raises(ValueError, match="no values"):
        one_of("pod", [])


def test_escape_regex_leaves_dns_names_alone_and_escapes_specials() -> None:
    assert escape_regex("vllm-7d9f-x2") == "vllm-7d9f-x2"
    assert escape_regex("a.b*(c)|d") == r"a\.b\*\(c\)\|d"
    assert re.fullmatch(escape_regex("a.b*(c)|d"), "a.b*(c)|d")


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        (Matcher("pod", "=", "a"), {"pod": "a"}, True),
        (Matcher("pod", "=", "a"), {"pod": "ab"}, False),
        (Matcher("pod", "=", ""), {}, True),  # an absent label is the empty string
        (Matcher("pod", "!=", "a"), {}, True),
        (Matcher("pod", "=~", "a|b"), {"pod": "b"}, True),
        (Matcher("pod", "=~", "a"), {"pod": "xa"}, False),  # anchored at both ends
        (Matcher("pod", "!~", "a.*"), {"pod": "abc"}, False),
    ],
)
def test_selector_matches_like_prometheus(matcher: Matcher, labels: dict[str, str], expected: bool) -> None:
    assert selector(matcher).matches(labels) is expected


def test_selector_needs_every_matcher() -> None:
    sel = selector(Matcher("namespace", "=", "llm"), Matcher("pod", "=", "a"))
    assert sel.render() == '{namespace="llm",pod="a"}'
    assert sel.matches({"namespace": "llm", "pod": "a", "gpu": "0"})
    assert not sel.matches({"namespace": "other", "pod": "a"})


@pytest.mark.parametrize(
    ("start", "end", "duration"),
    [(100.0, 160.0, "60000ms"), (100.0, 100.0004, "1ms"), (1700000000.25, 1700000012.5, "12250ms")],
)
def test_window_is_whole_milliseconds_rounded_up(start: float, end: float, duration: str) -> None:
    assert promql.range_duration(start, end) == duration


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty window"):
        promql.range_duration(10.0, 10.0)


SEL = selector(Matcher("namespace", "=", "llm"), Matcher("pod", "=", "vllm-0"))


def test_gauge_and_counter_queries() -> None:
    q = promql.gpu_queries(SEL, "4000ms")
    assert q["util_avg"] == 'avg_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="llm",pod="vllm-0"}[4000ms])'
    assert q["power_max"] == 'max_over_time(DCGM_FI_DEV_POWER_USAGE{namespace="llm",pod="vllm-0"}[4000ms])'
    assert q["fb_free_min"] == 'min_over_time(DCGM_FI_DEV_FB_FREE{namespace="llm",pod="vllm-0"}[4000ms])'
    assert q["energy_increase_mj"] == (
        'increase(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{namespace="llm",pod="vllm-0"}[4000ms])'
    )


def test_kv_cache_falls_back_to_the_older_name() -> None:
    q = promql.server_queries(SEL, "4000ms")
    assert q["kv_cache_avg"] == (
        'avg_over_time(vllm:kv_cache_usage_perc{namespace="llm",pod="vllm-0"}[4000ms]) or '
        'avg_over_time(vllm:gpu_cache_usage_perc{namespace="llm",pod="vllm-0"}[4000ms])'
    )


def test_prefix_cache_counters_fall_back_to_their_deprecated_names() -> None:
    q = promql.server_queries(SEL, "4000ms")
    assert q["prefix_hits"] == (
        'increase(vllm:prefix_cache_hits_total{namespace="llm",pod="vllm-0"}[4000ms]) or '
        'increase(vllm:gpu_prefix_cache_hits_total{namespace="llm",pod="vllm-0"}[4000ms])'
    )
    assert q["prefix_queries"].startswith("increase(vllm:prefix_cache_queries_total{")
    assert q["prefix_hit_rate_v0"] == (
        'avg_over_time(vllm:gpu_prefix_cache_hit_rate{namespace="llm",pod="vllm-0"}[4000ms])'
    )


def test_histogram_queries_sum_buckets_by_le_over_the_window() -> None:
    q = promql.server_queries(SEL, "4000ms")
    assert q["ttft_p90"] == (
        "histogram_quantile(0.9, sum by (le) "
        '(increase(vllm:time_to_first_token_seconds_bucket{namespace="llm",pod="vllm-0"}[4000ms])))'
    )
    assert (
        q["e2e_sum"]
        == 'sum(increase(vllm:e2e_request_latency_seconds_sum{namespace="llm",pod="vllm-0"}[4000ms]))'
    )
    assert q["e2e_count"] == (
        'sum(increase(vllm:e2e_request_latency_seconds_count{namespace="llm",pod="vllm-0"}[4000ms]))'
    )
    assert q["preemptions"] == 'increase(vllm:num_preemptions_total{namespace="llm",pod="vllm-0"}[4000ms])'


@pytest.mark.parametrize("q", [0.0, 1.0, -0.5, 1.5])
def test_quantile_outside_the_open_unit_interval_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        promql.histogram_quantile_over(VLLM_TTFT, q, SEL, "1s")
