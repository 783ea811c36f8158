"""PromQL for one load level's window, as plain strings (pure: no I/O, no client imports).

Every query is an *instant* query evaluated at the level's end over a range that reaches back exactly to
its start (`X[<duration>ms]` at `time=end`). Range functions then see precisely the samples scraped inside
the window, with no step to choose and no lookback picking up a sample from before the level began (a
range query would evaluate each step with the 5-minute lookback). The price: a window shorter than the
scrape interval may hold no sample at all, and the figures are then absent rather than wrong.

Per-series results are aggregated in Python (`aggregate.py`) so that GPU counts and the maths stay
testable; only histograms are summed by `le` here, because a quantile needs the summed buckets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loadtest_operator.gpu.series import (
    DRAM_ACTIVE,
    FB_FREE,
    FB_USED,
    GPU_UTIL,
    POWER_USAGE,
    SM_ACTIVE,
    TENSOR_ACTIVE,
    TOTAL_ENERGY,
    VLLM_E2E,
    VLLM_KV_CACHE,
    VLLM_PREEMPTIONS,
    VLLM_PREFIX_HIT_RATE_V0,
    VLLM_PREFIX_HITS,
    VLLM_PREFIX_QUERIES,
    VLLM_RUNNING,
    VLLM_TTFT,
    VLLM_WAITING,
    spellings,
)

_REGEX_SPECIALS = re.compile(r"([\\.+*?()|\[\]{}^$])")


def escape_label_value(value: str) -> str:
    """Quote-safe text for inside "..." in PromQL (Go string escapes: backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_regex(value: str) -> str:
    """A literal for an RE2 regex (Prometheus anchors `=~` at both ends itself)."""
    return _REGEX_SPECIALS.sub(r"\\\1", value)


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # "=", "=~", "!=", "!~"
    value: str

    def render(self) -> str:
        return f'{self.label}{self.op}"{escape_label_value(self.value)}"'


def one_of(label: str, values: Iterable[str]) -> Matcher:
    """`label` equal to any of `values`: an equality for one value, an escaped alternation for more."""
    distinct = sorted(set(values))
    if not distinct:
        raise ValueError(f"no values for label {label!r}")
    if len(distinct) == 1:
        return Matcher(label, "=", distinct[0])
    return Matcher(label, "=~", "|".join(escape_regex(v) for v in distinct))


@dataclass(frozen=True)
class Selector:
    """A label selector such as `{namespace="a",pod=~"b|c"}`, matched in Python the way Prometheus does."""

    matchers: tuple[Matcher, ...]

    def render(self) -> str:
        return "{" + ",".join(m.render() for m in self.matchers) + "}"

    def of(self, metric: str) -> str:
        return metric + self.render()

    def matches(self, labels: Mapping[str, str]) -> bool:
        # An absent label is the empty string to Prometheus; regexes are fully anchored.
        for m in self.matchers:
            actual = labels.get(m.label, "")
            if m.op == "=":
                ok = actual == m.value
            elif m.op == "!=":
                ok = actual != m.value
            elif m.op == "=~":
                ok = re.fullmatch(m.value, actual) is not None
            elif m.op == "!~":
                ok = re.fullmatch(m.value, actual) is None
            else:
                raise ValueError(f"unknown matcher operator {m.op!r}")
            if not ok:
                return False
        return True


def selector(*matchers: Matcher) -> Selector:
    return Selector(tuple(matchers))


def range_duration(start: float, end: float) -> str:
    """The window as a PromQL duration in whole milliseconds (rounded up, so no sample is lost)."""
    if end <= start:
        raise ValueError(f"empty window: start={start} end={end}")
    return f"{math.ceil((end - start) * 1000)}ms"


def avg_over(metric: str, sel: Selector, window: str) -> str:
    return f"avg_over_time({sel.of(metric)}[{window}])"


def max_over(metric: str, sel: Selector, window: str) -> str:
    return f"max_over_time({sel.of(metric)}[{window}])"


def min_over(metric: str, sel: Selector, window: str) -> str:
    return f"min_over_time({sel.of(metric)}[{window}])"


def increase_over(metric: str, sel: Selector, window: str) -> str:
    """Counter growth over the window. Unlike `X - X offset d`, increase() survives a counter reset
    (an exporter or driver restart) and extrapolates to the window's edges, which fall between scrapes."""
    return f"increase({sel.of(metric)}[{window}])"


def any_spelling_over(func: str, metric: str, sel: Selector, window: str) -> str:
    """`func` over a renamed series under each of its names (`series.spellings`, newest first). After
    `*_over_time` the metric name is dropped, so `or` keeps the newer series for a pod that exposes both
    and an older one where only it exists."""
    return " or ".join(f"{func}({sel.of(name)}[{window}])" for name in spellings(metric))


def histogram_quantile_over(histogram: str, q: float, sel: Selector, window: str) -> str:
    """The q-quantile of the observations made inside the window, over every matched series."""
    if not 0 < q < 1:
        raise ValueError(f"quantile must be in (0, 1): {q}")
    return f"histogram_quantile({q!r}, sum by (le) (increase({sel.of(histogram + '_bucket')}[{window}])))"


def histogram_sum_over(histogram: str, sel: Selector, window: str) -> str:
    return f"sum(increase({sel.of(histogram + '_sum')}[{window}]))"


def histogram_count_over(histogram: str, sel: Selector, window: str) -> str:
    return f"sum(increase({sel.of(histogram + '_count')}[{window}]))"


QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def gpu_queries(sel: Selector, window: str) -> dict[str, str]:
    """Named (the keys `aggregate.py` reads) per-GPU-series queries of one window for the DCGM selector found by discovery."""
    return {
        "util_avg": avg_over(GPU_UTIL, sel, window),
        "util_max": max_over(GPU_UTIL, sel, window),
        "fb_used_avg": avg_over(FB_USED, sel, window),
        "fb_used_max": max_over(FB_USED, sel, window),
        "fb_free_min": min_over(FB_FREE, sel, window),
        "power_avg": avg_over(POWER_USAGE, sel, window),
        "power_max": max_over(POWER_USAGE, sel, window),
        "energy_increase_mj": increase_over(TOTAL_ENERGY, sel, window),
        "sm_active_avg": avg_over(SM_ACTIVE, sel, window),
        "tensor_active_avg": avg_over(TENSOR_ACTIVE, sel, window),
        "dram_active_avg": avg_over(DRAM_ACTIVE, sel, window),
    }


def server_queries(sel: Selector, window: str) -> dict[str, str]:
    """vLLM queries of one window for the target pods' selector."""
    queries = {
        "running_avg": avg_over(VLLM_RUNNING, sel, window),
        "running_max": max_over(VLLM_RUNNING, sel, window),
        "waiting_avg": avg_over(VLLM_WAITING, sel, window),
        "waiting_max": max_over(VLLM_WAITING, sel, window),
        "kv_cache_avg": any_spelling_over("avg_over_time", VLLM_KV_CACHE, sel, window),
        "kv_cache_max": any_spelling_over("max_over_time", VLLM_KV_CACHE, sel, window),
        "preemptions": increase_over(VLLM_PREEMPTIONS, sel, window),
        "prefix_queries": any_spelling_over("increase", VLLM_PREFIX_QUERIES, sel, window),
        "prefix_hits": any_spelling_over("increase", VLLM_PREFIX_HITS, sel, window),
        "prefix_hit_rate_v0": avg_over(VLLM_PREFIX_HIT_RATE_V0, sel, window),
    }
    for prefix, histogram in (("ttft", VLLM_TTFT), ("e2e", VLLM_E2E)):
        for name, q in QUANTILES.items():
            queries[f"{prefix}_{name}"] = histogram_quantile_over(histogram, q, sel, window)
        queries[f"{prefix}_sum"] = histogram_sum_over(histogram, sel, window)
        queries[f"{prefix}_count"] = histogram_count_over(histogram, sel, window)
    return queries
