"""vLLM-named Prometheus metrics for the mock OpenAI server, rendered in the text exposition format.

Names, label sets (model_name and engine="0", as vLLM v1 does) and histogram
buckets follow vLLM's v1 metrics logger.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from mockservers.prefix_cache import PrefixCache

TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
    240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


# vLLM's FinishReason, as its label values spell them.
FINISH_REASONS = ("stop", "length", "abort")


def one_two_five_buckets(limit: int) -> tuple[float, ...]:
    """vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to `limit`."""
    out: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > limit:
                return tuple(out)
            out.append(float(value))
        exponent += 1


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class VllmMetrics:
    model: str
    max_model_len: int
    legacy_cache_metric: bool = False
    running: int = 0
    waiting: int = 0
    preemptions: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    kv_blocks_total: int = 8192
    # vllm:request_success_total by finished_reason; vLLM creates every reason's series at 0 up front.
    finished: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINISH_REASONS, 0))
    ttft: Histogram = field(init=False)
    e2e: Histogram = field(init=False)
    prompt_hist: Histogram = field(init=False)
    generation_hist: Histogram = field(init=False)
    prefix_cache: PrefixCache | None = None  # None: no prefix caching, the counters stay at 0

    def __post_init__(self) -> None:
        self.ttft = Histogram(TTFT_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self.prompt_hist = Histogram(one_two_five_buckets(self.max_model_len))
        self.generation_hist = Histogram(one_two_five_buckets(self.max_model_len))

    def record_finished(
        self, prompt_tokens: int, output_tokens: int, ttft: float, e2e: float, reason: str
    ) -> None:
        """One request finished, counted as vLLM counts it (tokens, histograms, success by reason)."""
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += output_tokens
        self.prompt_hist.observe(prompt_tokens)
        self.generation_hist.observe(output_tokens)
        self.ttft.observe(ttft)
        self.e2e.observe(e2e)
        self.finished[reason] += 1

    def kv_cache_usage(self, tokens_in_use: int) -> float:
        return min(1.0, tokens_in_use / 16 / self.kv_blocks_total)

    def render(self, tokens_in_use: int) -> str:
        labels = f'engine="0",model_name="{self.model}"'
        lines: list[str] = []

        def metric(name: str, kind: str, doc: str, value: float) -> None:
            lines.extend([f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name}{{{labels}}} {value!r}"])

        metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
               float(self.running))  # fmt: skip
        metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
               float(self.waiting))  # fmt: skip
        cache_name = "vllm:gpu_cache_usage_perc" if self.legacy_cache_metric else "vllm:kv_cache_usage_perc"
        metric(cache_name, "gauge", "KV-cache usage. 1 means 100 percent usage.",
               self.kv_cache_usage(tokens_in_use))  # fmt: skip
        metric("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.",
               float(self.preemptions))  # fmt: skip
        metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
               float(self.prompt_tokens))  # fmt: skip
        metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
               float(self.generation_tokens))  # fmt: skip
        cache = self.prefix_cache or PrefixCache()
        # Older vLLM: the V1 counters' deprecated gpu_ spelling, and V0's gauge of the hit rate since start.
        counters = "vllm:gpu_prefix_cache" if self.legacy_cache_metric else "vllm:prefix_cache"
        metric(f"{counters}_queries_total", "counter",
               "Prefix cache queries, in terms of number of queried tokens.", float(cache.queries))  # fmt: skip
        metric(f"{counters}_hits_total", "counter",
               "Prefix cache hits, in terms of number of cached tokens.", float(cache.hits))  # fmt: skip
        if self.legacy_cache_metric:
            metric("vllm:gpu_prefix_cache_hit_rate", "gauge", "GPU prefix cache block hit rate.",
                   cache.hit_rate)  # fmt: skip
        name = "vllm:request_success_total"
        lines += [f"# HELP {name} Count of successfully processed requests.", f"# TYPE {name} counter"]
        lines += [
            f'{name}{{{labels},finished_reason="{reason}"}} {float(n)!r}'
            for reason, n in self.finished.items()
        ]
        for name, doc, hist in (
            ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", self.ttft),
            ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", self.e2e),
            ("vllm:request_prompt_tokens", "Number of prefill tokens processed.", self.prompt_hist),
            (
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                self.generation_hist,
            ),
        ):
            lines.append(f"# HELP {name} {doc}")
            lines.append(f"# TYPE {name} histogram")
            cumulative = 0
            for bound, n in zip((*hist.buckets, float("inf")), hist.counts, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'{name}_bucket{{{labels},le="{le}"}} {float(cumulative)!r}')
            lines.append(f"{name}_count{{{labels}}} {float(hist.count)!r}")
            lines.append(f"{name}_sum{{{labels}}} {hist.total!r}")
        return "\n".join(lines) + "\n"
