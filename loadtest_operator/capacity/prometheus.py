"""fromPrometheus: PromQL over vLLM's own series, and the maths that turn the answers into a workload.

Series (vLLM's metric names, v0 and v1 engines alike; named in `gpu/series.py`):
  vllm:num_requests_running, vllm:num_requests_waiting   gauges, requests in the engine
  vllm:request_success_total                              counter, finished requests (label finished_reason)
  vllm:request_prompt_tokens, vllm:request_generation_tokens   histograms, tokens per finished request

Every query is an instant query evaluated at the window's end:
  peak concurrency  max_over_time((sum(running) + sum(waiting))[W:STEP])
  peak rate         max_over_time(sum(rate(request_success_total[1m]))[W:1m])
  token quantiles   histogram_quantile(q, sum by (le) (increase(<hist>_bucket[W])))

`histogram_quantile` below reproduces Prometheus's rule, so figures can be checked (and tested) from
recorded bucket counts: rank = q * total; the first bucket whose cumulative count reaches the rank holds
the quantile, interpolated linearly between its lower and upper bound (the lower bound of the first
bucket is 0 when its upper bound is positive); a rank landing in the +Inf bucket returns the highest
finite bound.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest_operator.api import Distribution, LoadMode, TokenDistribution
from loadtest_operator.gpu import promql
from loadtest_operator.gpu.series import (
    VLLM_GENERATION_TOKENS,
    VLLM_PROMPT_TOKENS,
    VLLM_REQUEST_SUCCESS,
    VLLM_RUNNING,
    VLLM_WAITING,
)

# Resolution of the concurrency subquery: fine enough to see a short peak, coarse enough to stay cheap.
CONCURRENCY_STEP_SECONDS = 15


def pod_selector(namespace: str, pods: Sequence[str]) -> str:
    """`{namespace="ns",pod=~"a|b"}` for the target's pods (vLLM is scraped directly, so its series carry
    the pods' own namespace and pod labels)."""
    if not pods:
        raise ValueError("no pods to select")
    alternatives = "|".join(promql.escape_regex(p) for p in sorted(set(pods)))
    return promql.selector(
        promql.Matcher("namespace", "=", namespace), promql.Matcher("pod", "=~", alternatives)
    ).render()


def peak_concurrency_query(selector: str, window_seconds: int) -> str:
    return (
        f"max_over_time((sum({VLLM_RUNNING}{selector}) + sum({VLLM_WAITING}{selector}))"
        f"[{window_seconds}s:{CONCURRENCY_STEP_SECONDS}s])"
    )


def peak_rate_query(selector: str, window_seconds: int) -> str:
    return f"max_over_time(sum(rate({VLLM_REQUEST_SUCCESS}{selector}[1m]))[{window_seconds}s:1m])"


def token_quantile_query(histogram: str, selector: str, window_seconds: int, percentile: int) -> str:
    quantile = f"{percentile / 100:g}"
    return f"histogram_quantile({quantile}, sum by (le) (increase({histogram}_bucket{selector}[{window_seconds}s])))"


def token_buckets_query(histogram: str, selector: str, window_seconds: int) -> str:
    """The summed buckets themselves, to compute the quantile in Python (and show the data)."""
    return f"sum by (le) (increase({histogram}_bucket{selector}[{window_seconds}s]))"


@dataclass(frozen=True, slots=True)
class WorkloadQueries:
    peak: str
    input_tokens: str
    output_tokens: str

    def all(self) -> list[str]:
        return [self.peak, self.input_tokens, self.output_tokens]


def workload_queries(
    *, namespace: str, pods: Sequence[str], window_seconds: int, percentile: int, peak: LoadMode
) -> WorkloadQueries:
    selector = pod_selector(namespace, pods)
    return WorkloadQueries(
        peak=peak_concurrency_query(selector, window_seconds)
        if peak is LoadMode.CONCURRENCY
        else peak_rate_query(selector, window_seconds),
        input_tokens=token_quantile_query(VLLM_PROMPT_TOKENS, selector, window_seconds, percentile),
        output_tokens=token_quantile_query(VLLM_GENERATION_TOKENS, selector, window_seconds, percentile),
    )


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over (upper bound, cumulative count) pairs, +Inf included."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets, key=lambda b: b[0])
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return math.nan
    # Cumulative counts can dip from scrape races; Prometheus makes them monotonic first.
    counts: list[float] = []
    for _, count in ordered:
        counts.append(max(count, counts[-1]) if counts else count)
    total = counts[-1]
    if total == 0 or math.isnan(total):
        return math.nan
    rank = q * total
    index = next(i for i, c in enumerate(counts) if c >= rank)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    if index == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, below = (0.0, 0.0) if index == 0 else (ordered[index - 1][0], counts[index - 1])
    end, count = ordered[index][0], counts[index] - below
    if count == 0:
        return math.nan  # Prometheus computes 0/0 here (rank 0 in an empty first bucket)
    return start + (end - start) * (rank - below) / count


def buckets_from_response(body: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(le, count) pairs from a Prometheus instant-vector response of `sum by (le) (...)`."""
    pairs = []
    for sample in _vector(body):
        le = (sample.get("metric") or {}).get("le")
        if le is None:
            raise ValueError("a bucket sample without le")
        pairs.append((float(le), float(sample["value"][1])))
    return pairs


def scalar_from_response(body: Mapping[str, Any]) -> float | None:
    """The single value of an instant-vector response, or None when it is empty (no data in the window)."""
    return scalar_from_vector(_vector(body))


def scalar_from_vector(vector: Sequence[Mapping[str, Any]]) -> float | None:
    """The single value of an instant vector (the response's `data.result`), or None when it is empty."""
    if not vector:
        return None
    if len(vector) > 1:
        raise ValueError(f"expected one series, got {len(vector)}")
    value = float(vector[0]["value"][1])
    return None if math.isnan(value) else value


def _vector(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if body.get("status") != "success":
        raise ValueError(f"Prometheus answered {body.get('status')}: {body.get('error', '')}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise ValueError(f"expected a vector, got {data.get('resultType')}")
    result: list[Mapping[str, Any]] = data.get("result") or []
    return result


@dataclass(frozen=True, slots=True)
class DerivedWorkload:
    peak: int
    input_tokens: TokenDistribution
    output_tokens: TokenDistribution


def derive_workload(
    peak_value: float | None, input_quantile: float | None, output_quantile: float | None
) -> DerivedWorkload:
    """The workload from the three answers: the peak rounded up (a fractional concurrency or rate still
    needs the next whole unit), token counts rounded up to fixed lengths. Raises ValueError naming what
    is missing (no traffic in the window, or no vLLM series)."""
    values = {"peak": peak_value, "prompt tokens": input_quantile, "generation tokens": output_quantile}
    usable = {name: v for name, v in values.items() if v is not None and math.isfinite(v) and v > 0}
    missing = [name for name in values if name not in usable]
    if missing:
        raise ValueError(
            f"no data for {', '.join(missing)} in the window (is vLLM scraped, did it serve traffic?)"
        )
    return DerivedWorkload(
        peak=max(1, math.ceil(usable["peak"] - 1e-9)),
        input_tokens=TokenDistribution(
            distribution=Distribution.FIXED, mean=max(1, math.ceil(usable["prompt tokens"]))
        ),
        output_tokens=TokenDistribution(
            distribution=Distribution.FIXED, mean=max(1, math.ceil(usable["generation tokens"]))
        ),
    )
