"""Every Prometheus series the operator queries, named once: dcgm-exporter's and vLLM's (pure).

`promql.py` (a LoadTest's per-level GPU and server figures), `discovery.py` (which series are the
target's) and `capacity/prometheus.py` (the fromPrometheus workload) all take their names from here.
`QUERIED` lists each of them with its type and the spellings it is known by, so a test can hold the
list against a real exporter's `/metrics` (`missing_from(sample_names(text))`) and against the queries
the operator builds.

vLLM renamed some series; where the operator reads one, it accepts every spelling (`spellings()`):
  vllm:gpu_cache_usage_perc          -> vllm:kv_cache_usage_perc          (KV-cache use, ratio 0..1)
  vllm:time_per_output_token_seconds -> vllm:inter_token_latency_seconds  (histogram; not queried yet)
  vllm:gpu_prefix_cache_queries_total -> vllm:prefix_cache_queries_total  (counter, tokens looked up)
  vllm:gpu_prefix_cache_hits_total    -> vllm:prefix_cache_hits_total     (counter, tokens found cached)
vLLM's V0 engine had neither counter, only a gauge of the hit rate (vllm:gpu_prefix_cache_hit_rate).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# dcgm-exporter (names and units as in its default-counters.csv).
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # gauge, %
FB_USED = "DCGM_FI_DEV_FB_USED"  # gauge, MiB
FB_FREE = "DCGM_FI_DEV_FB_FREE"  # gauge, MiB
POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"  # gauge, W
TOTAL_ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"  # counter, mJ since boot
SM_ACTIVE = "DCGM_FI_PROF_SM_ACTIVE"  # gauge, ratio 0..1 (profiling counters, optional)
TENSOR_ACTIVE = "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"
DRAM_ACTIVE = "DCGM_FI_PROF_DRAM_ACTIVE"

# vLLM (scraped from the vLLM pods directly, so they carry the pods' own namespace/pod labels).
VLLM_RUNNING = "vllm:num_requests_running"  # gauge, requests in the running batch
VLLM_WAITING = "vllm:num_requests_waiting"  # gauge, requests queued
VLLM_KV_CACHE = "vllm:kv_cache_usage_perc"  # gauge, ratio 0..1 (newer vLLM)
VLLM_KV_CACHE_LEGACY = "vllm:gpu_cache_usage_perc"  # the same before the rename
VLLM_PREEMPTIONS = "vllm:num_preemptions_total"  # counter
VLLM_REQUEST_SUCCESS = "vllm:request_success_total"  # counter of finished requests (label finished_reason)
VLLM_GENERATION_TOKENS_TOTAL = "vllm:generation_tokens_total"  # counter, tokens generated (all requests)
VLLM_PROMPT_TOKENS_TOTAL = "vllm:prompt_tokens_total"  # counter, prompt tokens prefilled (all requests)
VLLM_TTFT = "vllm:time_to_first_token_seconds"  # histogram, s
VLLM_E2E = "vllm:e2e_request_latency_seconds"  # histogram, s
VLLM_PROMPT_TOKENS = "vllm:request_prompt_tokens"  # histogram, tokens per finished request
VLLM_GENERATION_TOKENS = "vllm:request_generation_tokens"  # histogram, tokens per finished request
VLLM_ITL = "vllm:inter_token_latency_seconds"  # histogram, s (not queried yet)
VLLM_ITL_LEGACY = "vllm:time_per_output_token_seconds"  # the same before the rename
VLLM_PREFIX_QUERIES = "vllm:prefix_cache_queries_total"  # counter, prompt tokens looked up (V1)
VLLM_PREFIX_QUERIES_LEGACY = "vllm:gpu_prefix_cache_queries_total"  # the same, deprecated spelling
VLLM_PREFIX_HITS = "vllm:prefix_cache_hits_total"  # counter, of those found in the prefix cache (V1)
VLLM_PREFIX_HITS_LEGACY = "vllm:gpu_prefix_cache_hits_total"
VLLM_PREFIX_HIT_RATE_V0 = "vllm:gpu_prefix_cache_hit_rate"  # gauge, 0..1 (V0 engine only)

# Former name -> current name, for every rename the operator knows of.
RENAMED: dict[str, str] = {
    VLLM_KV_CACHE_LEGACY: VLLM_KV_CACHE,
    VLLM_ITL_LEGACY: VLLM_ITL,
    VLLM_PREFIX_QUERIES_LEGACY: VLLM_PREFIX_QUERIES,
    VLLM_PREFIX_HITS_LEGACY: VLLM_PREFIX_HITS,
}


def spellings(name: str) -> tuple[str, ...]:
    """The current name first, then every former name of the same series."""
    return (name, *(old for old, new in RENAMED.items() if new == name))


class SeriesType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


class Exporter(StrEnum):
    DCGM = "dcgm-exporter"
    VLLM = "vllm"


# The samples of a histogram the operator reads (its buckets for quantiles, sum and count for means).
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True, slots=True)
class Series:
    name: str  # the current name, as queried (a counter's ends in _total, as Prometheus stores it)
    type: SeriesType
    exporter: Exporter
    optional: bool = False  # absent on some hardware or configurations; its figures are then absent

    @property
    def names(self) -> tuple[str, ...]:
        return spellings(self.name)

    def samples(self, name: str | None = None) -> tuple[str, ...]:
        """The sample names of one spelling (default: the current one) as `/metrics` and Prometheus
        show them: a histogram's `_bucket`, `_sum` and `_count`, anything else its own name."""
        spelled = name or self.name
        if self.type is SeriesType.HISTOGRAM:
            return tuple(spelled + suffix for suffix in HISTOGRAM_SUFFIXES)
        return (spelled,)


def _dcgm(name: str, kind: SeriesType, optional: bool = False) -> Series:
    return Series(name, kind, Exporter.DCGM, optional)


def _vllm(name: str, kind: SeriesType) -> Series:
    return Series(name, kind, Exporter.VLLM)


_G, _C, _H = SeriesType.GAUGE, SeriesType.COUNTER, SeriesType.HISTOGRAM

# Every series some operator query reads (tests/unit/gpu/test_series.py checks it against the queries).
QUERIED: tuple[Series, ...] = (
    _dcgm(GPU_UTIL, _G),
    _dcgm(FB_USED, _G),
    _dcgm(FB_FREE, _G),
    _dcgm(POWER_USAGE, _G),
    _dcgm(TOTAL_ENERGY, _C, optional=True),  # older GPUs and drivers: power integral instead
    _dcgm(SM_ACTIVE, _G, optional=True),  # profiling metrics off by default
    _dcgm(TENSOR_ACTIVE, _G, optional=True),
    _dcgm(DRAM_ACTIVE, _G, optional=True),
    _vllm(VLLM_RUNNING, _G),
    _vllm(VLLM_WAITING, _G),
    _vllm(VLLM_KV_CACHE, _G),
    _vllm(VLLM_PREEMPTIONS, _C),
    _vllm(VLLM_REQUEST_SUCCESS, _C),
    _vllm(VLLM_GENERATION_TOKENS_TOTAL, _C),
    _vllm(VLLM_PROMPT_TOKENS_TOTAL, _C),
    _vllm(VLLM_TTFT, _H),
    _vllm(VLLM_E2E, _H),
    _vllm(VLLM_PROMPT_TOKENS, _H),
    _vllm(VLLM_GENERATION_TOKENS, _H),
    # A V1 engine has the counters, a V0 engine the gauge; each figure is absent where its series is.
    Series(VLLM_PREFIX_QUERIES, _C, Exporter.VLLM, optional=True),
    Series(VLLM_PREFIX_HITS, _C, Exporter.VLLM, optional=True),
    Series(VLLM_PREFIX_HIT_RATE_V0, _G, Exporter.VLLM, optional=True),
)


def queried(exporter: Exporter | None = None) -> tuple[Series, ...]:
    """The series the operator queries, of one exporter or of all."""
    return tuple(s for s in QUERIED if exporter is None or s.exporter is exporter)


def queried_names(exporter: Exporter | None = None) -> frozenset[str]:
    """Every sample name the operator may query, all spellings included."""
    return frozenset(sample for s in queried(exporter) for name in s.names for sample in s.samples(name))


def sample_names(exposition: str) -> frozenset[str]:
    """The sample names of a Prometheus text exposition (a `/metrics` page)."""
    names = set()
    for line in exposition.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(None, 1)[0])
    return frozenset(names)


def missing_from(exposed: Iterable[str], exporter: Exporter = Exporter.VLLM) -> list[Series]:
    """The queried series of `exporter` that `exposed` (sample names) has under none of their spellings
    (for a histogram: not all three of its samples under one spelling), optional ones left out (their
    figures are absent where they are). Empty: every query that must find data does."""
    present = set(exposed)
    return [
        s
        for s in queried(exporter)
        if not s.optional and not any(set(s.samples(name)) <= present for name in s.names)
    ]
