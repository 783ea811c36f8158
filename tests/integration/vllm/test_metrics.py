"""vLLM's own /metrics against what the operator queries and against what the client measured."""

from __future__ import annotations

import re

from loadgen.runner import run
from loadtest_operator.gpu.promql import selector, server_queries
from loadtest_operator.gpu.series import RENAMED, Exporter, missing_from, queried, sample_names, spellings
from tests.shared_vllm import Endpoint

from .conftest import config, delta, scrape

_METRIC = re.compile(r"vllm:[a-z_:]+")


async def test_every_series_the_operator_queries_is_exposed(real_vllm: Endpoint) -> None:
    # After a request, so that every histogram and labelled counter has its samples.
    await run(config(real_vllm.url, requests_per_level=1, levels=[1]))
    exposed = sample_names(scrape(real_vllm.url).text)
    assert missing_from(exposed, Exporter.VLLM) == []
    # The optional ones too: this is a V1 engine, which has the prefix-cache counters (not V0's gauge).
    found = {s.name: [n for n in s.names if set(s.samples(n)) <= exposed] for s in queried(Exporter.VLLM)}
    print("\nspellings found in vLLM's /metrics:", found)
    for name, spelled in found.items():
        if name == "vllm:gpu_prefix_cache_hit_rate":
            assert spelled == [], "a V1 engine has no V0 hit-rate gauge"
        else:
            assert spelled, f"{name} under none of its spellings {spellings(name)}"
    # Where vLLM renamed a series, this version exposes the current name, not the former one, and the
    # operator's query asks for both (so it also works against vLLM from before the rename).
    queries = " ".join(server_queries(selector(), "60000ms").values())
    asked = set(_METRIC.findall(queries))
    for old, new in RENAMED.items():
        assert not set(sample_names_of(old)) & exposed, f"{old} is still exposed next to {new}"
        if any(new in q for q in asked):
            assert old in asked, f"the operator queries {new} but not its former name {old}"


def sample_names_of(name: str) -> tuple[str, ...]:
    return (name, f"{name}_bucket", f"{name}_sum", f"{name}_count")


async def test_client_latency_against_vllm_histograms_over_the_same_requests(real_vllm: Endpoint) -> None:
    """The client's mean TTFT and E2E against vLLM's own histograms' _sum/_count over the same requests.
    vLLM clocks a request from its arrival in the API server to the engine's output; the client from the
    socket write to the socket read, so it sees more. On two cores shared with the client the stream is
    bursty: only loose bounds, and the gap is printed."""
    before = scrape(real_vllm.url)
    result = await run(
        config(
            real_vllm.url,
            levels=[4],
            requests_per_level=24,
            workload={"input_tokens": {"mean": 64}, "output_tokens": 32},
        )
    )
    after = scrape(real_vllm.url)
    level = result.levels[0]
    assert level.successes == 24
    summary = level.summary()
    rows = []
    for name, client in (
        ("time_to_first_token_seconds", summary.ttft),
        ("e2e_request_latency_seconds", summary.e2e),
    ):
        count = delta(before, after, f"vllm:{name}_count")
        assert count == 24, f"vLLM's {name} counted {count} requests, the client sent 24"
        server_ms = delta(before, after, f"vllm:{name}_sum") / count * 1000
        assert client.mean is not None
        gap = client.mean - server_ms
        rows.append(f"{name}: client {client.mean:.1f} ms, vLLM {server_ms:.1f} ms, gap {gap:+.1f} ms")
        # The client's clock starts earlier and stops later; it cannot be far below vLLM's.
        assert gap > -5.0, rows[-1]
        # Loose: the client is not off by more than the request itself plus scheduling noise.
        assert client.mean < 3 * server_ms + 250, rows[-1]
    print("\n" + "\n".join(rows))
