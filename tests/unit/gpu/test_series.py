"""The one list of series names: complete against every query the operator builds, spellings of renamed
series, and the check a test can hold against an exporter's /metrics page."""

from __future__ import annotations

import re

from loadtest_operator.api import LoadMode
from loadtest_operator.capacity.prometheus import workload_queries
from loadtest_operator.gpu import promql, series
from loadtest_operator.gpu.discovery import PodRef, dcgm_series_matches, vllm_selector
from loadtest_operator.gpu.series import (
    Exporter,
    SeriesType,
    missing_from,
    queried,
    queried_names,
    sample_names,
)
from loadtest_operator.gpu.validation import counter_queries
from mockservers.dcgm import Exporter as DcgmStandIn
from mockservers.dcgm import GpuIdentity, GpuScript, PolledLoad
from mockservers.vllm_metrics import VllmMetrics

PODS = [PodRef("vllm-0", "llm", "node-a"), PodRef("vllm-1", "llm", "node-b")]
METRIC = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{")


def every_query() -> list[str]:
    """Every PromQL expression and series selector the operator sends, for one window."""
    sel = vllm_selector(PODS)
    queries = [*dcgm_series_matches(PODS), sel.of(series.VLLM_RUNNING)]
    queries += promql.gpu_queries(sel, "1s").values()
    queries += promql.server_queries(sel, "1s").values()
    queries += [expr for expr, _ in counter_queries(sel, 100.0, 110.0).values()]
    for peak in LoadMode:
        queries += workload_queries(
            namespace="llm", pods=["vllm-0"], window_seconds=60, percentile=95, peak=peak
        ).all()
    return queries


def test_every_queried_name_is_listed_and_every_listed_series_is_queried() -> None:
    used = {name for query in every_query() for name in METRIC.findall(query)}
    assert used <= queried_names()
    for s in queried():
        assert any(sample in used for sample in s.samples()), f"{s.name} is listed but never queried"
    assert {series.VLLM_KV_CACHE, series.VLLM_KV_CACHE_LEGACY} <= used  # both spellings are asked for


def test_renamed_series_have_every_spelling_newest_first() -> None:
    assert series.spellings(series.VLLM_KV_CACHE) == ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    assert series.spellings(series.VLLM_ITL) == (
        "vllm:inter_token_latency_seconds",
        "vllm:time_per_output_token_seconds",
    )
    assert series.spellings(series.VLLM_RUNNING) == ("vllm:num_requests_running",)
    kv = next(s for s in queried(Exporter.VLLM) if s.name == series.VLLM_KV_CACHE)
    assert kv.names == series.spellings(series.VLLM_KV_CACHE)


def test_samples_of_a_histogram_and_a_counter() -> None:
    (ttft,) = [s for s in queried() if s.name == series.VLLM_TTFT]
    assert ttft.type is SeriesType.HISTOGRAM
    assert ttft.samples() == (
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:time_to_first_token_seconds_sum",
        "vllm:time_to_first_token_seconds_count",
    )
    (success,) = [s for s in queried() if s.name == series.VLLM_REQUEST_SUCCESS]
    assert success.samples() == ("vllm:request_success_total",)
    assert {s.exporter for s in queried(Exporter.DCGM)} == {Exporter.DCGM}
    assert len(queried(Exporter.DCGM)) + len(queried(Exporter.VLLM)) == len(queried())


def test_sample_names_of_an_exposition() -> None:
    text = (
        "# HELP vllm:num_requests_running Number of requests.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{engine="0",model_name="m"} 1.0\n'
        "\n"
        "process_cpu_seconds_total 12.5 1700000000000\n"
        'vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 3.0\n'
    )
    assert sample_names(text) == {
        "vllm:num_requests_running",
        "process_cpu_seconds_total",
        "vllm:e2e_request_latency_seconds_bucket",
    }


def test_missing_from_wants_one_complete_spelling() -> None:
    everything = queried_names(Exporter.VLLM)
    assert missing_from(everything) == []
    without_new_kv = everything - {series.VLLM_KV_CACHE}
    assert missing_from(without_new_kv) == []  # the older spelling is enough
    without_kv = without_new_kv - {series.VLLM_KV_CACHE_LEGACY}
    assert [s.name for s in missing_from(without_kv)] == [series.VLLM_KV_CACHE]
    half_histogram = everything - {"vllm:time_to_first_token_seconds_sum"}
    assert [s.name for s in missing_from(half_histogram)] == [series.VLLM_TTFT]


def test_the_mock_vllm_exposes_everything_the_operator_queries() -> None:
    for legacy in (False, True):
        text = VllmMetrics("m", 2048, legacy_cache_metric=legacy).render(0)
        assert missing_from(sample_names(text)) == []
        # Every finish reason's series exists from the start, at 0, as vLLM creates them.
        for reason in ("stop", "length", "abort"):
            assert f'finished_reason="{reason}"}} 0.0' in text


def test_the_dcgm_stand_in_exposes_every_dcgm_series_queried() -> None:
    gpus = [GpuIdentity(0, "GPU-0", ("llm", "vllm-0", "vllm"))]
    stand_in = DcgmStandIn(
        gpus, "node-a", "NVIDIA L4", "550.54.15", GpuScript(), PolledLoad(1), True, lambda: 0.0
    )
    assert missing_from(sample_names(stand_in.render()), Exporter.DCGM) == []
