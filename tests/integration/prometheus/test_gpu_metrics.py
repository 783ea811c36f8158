"""GPU and vLLM figures through a real Prometheus: stand-in dcgm-exporters and the mock vLLM server as
processes on 127.0.0.1, scraped every second, queried by the operator's collector.

One timeline (about 20 s) serves every test: the exporters follow a schedule of load steps (idle, then
4 requests running, then idle) that fixes what the GPUs must show, while a client drives 4 concurrent
streams against the mock vLLM during the loaded window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from statistics import fmean

import httpx
import pytest

from loadtest_operator.api.gpu import EnergySource
from loadtest_operator.api.validation import CheckName
from loadtest_operator.gpu import GapTolerance, GpuMetricsReason, LevelMetrics, LevelWindow, MatchedBy, PodRef
from loadtest_operator.io.prometheus import collect_level_metrics
from mockservers.openai_server import COMPLETIONS_BOS_TOKENS, count_tokens
from tests.integration.prometheus.conftest import (
    LOOPBACK,
    PrometheusServer,
    Targets,
    free_port,
    free_ports,
    run_listener,
)

pytestmark = pytest.mark.integration

# The exporters' script (`llmload-mock dcgm` defaults): power = 60 W + 40 W per running request, util 20 %/request.
IDLE_WATTS, WATTS_PER_LOAD, UTIL_PER_LOAD = 60.0, 40.0, 20.0
LOAD = 4
# Few, slow tokens: the client and the mock share two cores with Prometheus and the exporters, and a
# scrape answered late skews the energy counter against its timestamp.
TTFT_MS, ITL_MS, OUTPUT_TOKENS = 40.0, 20.0, 8
# The same prompt every time: BOS + 40 words = 41 tokens, two full 16-token blocks. With the mock's prefix
# cache each request after the first hits both: 32 of its 41 tokens.
PROMPT = " ".join(["word"] * 40)
PREFIX_HIT_PERCENT = 100 * 32 / 41
WINDOW_SECONDS = 4.0
PROMPT_TOKENS = COMPLETIONS_BOS_TOKENS + count_tokens(PROMPT)  # as the mock counts a completions prompt
STARTUP_SECONDS = 5.0  # processes up and scraped (every target already discovered) before the first step


@dataclass(frozen=True)
class Scenario:
    url: str
    idle: LevelWindow
    loaded: LevelWindow
    requests: int  # completed by the client inside the loaded window
    vllm_url: str


def exporter_target(pod: str) -> dict[str, str]:
    """Target labels kube-prometheus attaches to a dcgm-exporter pod (ServiceMonitor, pod role)."""
    return {
        "namespace": "gpu-operator",
        "pod": pod,
        "container": "nvidia-dcgm-exporter",
        "service": "nvidia-dcgm-exporter",
        "job": "nvidia-dcgm-exporter",
    }


def dcgm_standin(port: int, *args: str) -> list[str]:
    return ["-m", "mockservers", "dcgm", "--host", LOOPBACK, "--port", str(port), *args]


async def drive(url: str, until: float) -> tuple[int, list[float], list[float], int]:
    """LOAD concurrent streams until `until` (unix time): (requests, TTFTs ms, E2Es ms, output tokens)."""
    ttfts: list[float] = []
    e2es: list[float] = []
    tokens = 0
    body = {"model": "mock-model", "prompt": PROMPT, "max_tokens": OUTPUT_TOKENS, "stream": True}
    budget = (TTFT_MS + ITL_MS * OUTPUT_TOKENS) / 1000 + 0.05

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens
        while time.time() + budget < until:
            start = time.perf_counter()
            first = None
            async with client.stream("POST", f"{url}/v1/completions", json=body) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if line.startswith("data: {") and first is None:
                        first = time.perf_counter()
            assert first is not None
            ttfts.append((first - start) * 1000)
            e2es.append((time.perf_counter() - start) * 1000)
            tokens += OUTPUT_TOKENS

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(LOAD)))
    return len(e2es), ttfts, e2es, tokens


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


@dataclass(frozen=True)
class Ports:
    vllm: int
    dcgm_a: int
    dcgm_b: int
    dcgm_c: int


@pytest.fixture(scope="module")
def ports() -> Ports:
    return Ports(*free_ports(4))


@pytest.fixture(scope="module")
def scrape_targets(ports: Ports) -> Targets:
    """Known before Prometheus starts (its discovery passes later changes on only every 5 s)."""
    vllm_labels = {"namespace": "llm", "pod": "vllm-0", "container": "vllm", "job": "vllm"}
    return {
        "pods-vllm.json": [(f"{LOOPBACK}:{ports.vllm}", vllm_labels)],
        "pods-dcgm-a.json": [(f"{LOOPBACK}:{ports.dcgm_a}", exporter_target("nvidia-dcgm-exporter-aaaaa"))],
        "pods-dcgm-b.json": [(f"{LOOPBACK}:{ports.dcgm_b}", exporter_target("nvidia-dcgm-exporter-bbbbb"))],
        "honor-dcgm-c.json": [(f"{LOOPBACK}:{ports.dcgm_c}", exporter_target("nvidia-dcgm-exporter-ccccc"))],
    }


@pytest.fixture(scope="module")
def scenario(prometheus: PrometheusServer, ports: Ports, scrape_targets: Targets) -> Iterator[Scenario]:
    prometheus.wait_until_discovered(
        [address for targets in scrape_targets.values() for address, _ in targets]
    )
    base = time.time() + STARTUP_SECONDS
    schedule = f"{base}:0,{base + 5}:{LOAD},{base + 10}:0"
    with ExitStack() as stack:

        def start(command: list[str], event: str) -> str:
            return f"{LOOPBACK}:{stack.enter_context(run_listener(command, event))}"

        vllm = start(
            ["-m", "mockservers", "openai", "--host", LOOPBACK, "--port", str(ports.vllm),
             "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--prefix-cache"],
            "mock_server_listening",
        )  # fmt: skip
        # node-a: GPU 0 belongs to the target pod vllm-0, GPU 1 to another pod (must not be counted).
        dcgm_a = start(
            dcgm_standin(ports.dcgm_a, "--gpus", "2", "--hostname", "node-a", "--pod", "0=llm/vllm-0/vllm",
                      "--pod", "1=llm/other-0/other", "--schedule", schedule, "--profiling"),
            "mock_dcgm_listening",
        )  # fmt: skip
        # node-b: pod mapping off (no namespace/pod labels): only the Hostname fallback can match. Its
        # load is what the mock vLLM reports running, polled every 0.1 s.
        dcgm_b = start(
            dcgm_standin(ports.dcgm_b, "--hostname", "node-b", "--load-url", f"http://{vllm}/metrics",
                      "--poll-interval", "0.1"),
            "mock_dcgm_listening",
        )  # fmt: skip
        # node-c: scraped with honor_labels: true, so the pod labels keep their own names.
        dcgm_c = start(
            dcgm_standin(
                ports.dcgm_c, "--hostname", "node-c", "--pod", "0=llm/vllm-c/vllm", "--schedule", schedule
            ),
            "mock_dcgm_listening",
        )
        prometheus.wait_until_up([vllm, dcgm_a, dcgm_b, dcgm_c])
        assert time.time() < base + 0.5, "exporters and Prometheus took too long to start for the schedule"

        idle = (base + 0.5, base + 0.5 + WINDOW_SECONDS)
        loaded_start = base + 5.5
        loaded_end = loaded_start + WINDOW_SECONDS
        sleep_until(loaded_start)
        requests, ttfts, e2es, tokens = asyncio.run(drive(f"http://{vllm}", loaded_end))
        sleep_until(base + 10 + 2 * 1)  # the scrapes after the window's end are in
        yield Scenario(
            url=prometheus.url,
            idle=LevelWindow(idle[0], idle[1], output_tokens=0, client_successes=0, client_input_tokens=0),
            loaded=LevelWindow(
                loaded_start,
                loaded_end,
                tokens,
                fmean(ttfts),
                fmean(e2es),
                client_successes=requests,
                client_input_tokens=requests * PROMPT_TOKENS,
            ),
            requests=requests,
            vllm_url=f"http://{vllm}",
        )


def collect(scenario: Scenario, *pods: PodRef) -> tuple[object, list[LevelMetrics]]:
    return asyncio.run(
        collect_level_metrics(scenario.url, None, list(pods), [scenario.idle, scenario.loaded])
    )


def approx(expected: float, rel: float) -> object:
    return pytest.approx(expected, rel=rel)


async def test_exported_pod_labels_match_only_the_target_pods_gpu(scenario: Scenario) -> None:
    discovery, (idle, loaded) = await collect_level_metrics(
        scenario.url, None, [PodRef("vllm-0", "llm", "node-a")], [scenario.idle, scenario.loaded]
    )
    assert discovery.available, discovery.message
    assert discovery.reason == GpuMetricsReason.METRICS_COLLECTED
    assert discovery.matched_by == MatchedBy.EXPORTED_POD_LABELS
    assert discovery.query == '{exported_namespace="llm",exported_pod="vllm-0"}'
    assert discovery.gpu_count == 1  # GPU 1 of node-a belongs to another pod
    assert discovery.gpu_models == ["NVIDIA H100 80GB HBM3"]
    assert discovery.driver_versions == ["550.54.15"]  # the stand-in's DCGM_FI_DRIVER_VERSION label
    assert discovery.server_pods == ["vllm-0"]

    assert idle.gpu is not None
    assert loaded.gpu is not None
    assert idle.gpu.power_watts_mean == pytest.approx(IDLE_WATTS)
    assert idle.gpu.utilization_percent_max == 0
    loaded_watts = IDLE_WATTS + WATTS_PER_LOAD * LOAD
    assert loaded.gpu.power_watts_mean == pytest.approx(loaded_watts)
    assert loaded.gpu.utilization_percent_mean == pytest.approx(UTIL_PER_LOAD * LOAD)
    assert loaded.gpu.sm_active_ratio_mean == pytest.approx(UTIL_PER_LOAD * LOAD / 100)
    # The energy counter integrates the scripted power exactly; increase() over ~4 scrapes must agree.
    assert loaded.gpu.energy_source == EnergySource.ENERGY_COUNTER
    assert idle.gpu.energy_joules == approx(IDLE_WATTS * WINDOW_SECONDS, rel=0.03)
    assert loaded.gpu.energy_joules == approx(loaded_watts * WINDOW_SECONDS, rel=0.03)
    assert loaded.gpu.joules_per_1k_output_tokens == approx(
        loaded_watts * WINDOW_SECONDS / scenario.loaded.output_tokens * 1000, rel=0.03
    )


async def test_vllm_series_line_up_with_the_client(scenario: Scenario) -> None:
    # On loopback the client sees the server's latency plus scheduling noise of a shared CI machine,
    # a few ms: a loose tolerance must not flag that, a zero tolerance must (the client always waits
    # at least as long as the server reports).
    pods, levels = [PodRef("vllm-0", "llm", "node-a")], [scenario.idle, scenario.loaded]
    loose, zero = GapTolerance(relative=0.5, absolute_ms=25), GapTolerance(relative=0, absolute_ms=0)
    _, (idle, loaded) = await collect_level_metrics(scenario.url, None, pods, levels, tolerance=loose)
    _, (_, loaded_strict) = await collect_level_metrics(scenario.url, None, pods, levels, tolerance=zero)
    assert idle.server is not None
    assert loaded.server is not None
    assert idle.server.requests_running_max == 0
    assert idle.server.requests == 0
    assert loaded.server.requests_running_max == LOAD
    # A busy CI machine delays the client between requests: the mean dips below LOAD, not to idle.
    assert LOAD / 2 <= (loaded.server.requests_running_mean or 0) <= LOAD
    assert loaded.server.kv_cache_usage_percent_max is not None
    assert loaded.server.kv_cache_usage_percent_max > 0
    # vLLM's prefix-cache counters over each window: none looked up while idle; loaded, every request
    # but the very first ones hits the prompt's two full blocks.
    assert (idle.server.prefix_cache_queried_tokens, idle.server.prefix_cache_hit_percent) == (0.0, None)
    assert (loaded.server.prefix_cache_queried_tokens or 0) == approx(41 * scenario.requests, rel=0.15)
    hit_percent = loaded.server.prefix_cache_hit_percent or 0
    assert 0.8 * PREFIX_HIT_PERCENT <= hit_percent <= PREFIX_HIT_PERCENT + 0.01
    assert loaded.server.requests == approx(scenario.requests, rel=0.15)
    assert loaded.server.ttft is not None
    assert loaded.server.e2e is not None
    # The mock observes its scheduled latencies plus its own event-loop delays (never less).
    assert TTFT_MS <= (loaded.server.ttft.mean or 0) <= TTFT_MS + 15
    e2e_ms = TTFT_MS + ITL_MS * (OUTPUT_TOKENS - 1)
    assert e2e_ms <= (loaded.server.e2e.mean or 0) <= e2e_ms + 35
    # TTFT buckets around 40 ms are 0.04 and 0.06: the median interpolates inside them.
    assert 40 <= (loaded.server.ttft.p50 or 0) <= 60
    assert loaded.server.ttft_gap is not None
    assert loaded.server.ttft_gap.client_ms == scenario.loaded.client_ttft_ms
    assert loaded.server.ttft_gap.server_ms == loaded.server.ttft.mean
    assert not loaded.server.client_gap_exceeded
    assert loaded_strict.server is not None
    assert loaded_strict.server.client_gap_exceeded


async def test_client_counts_are_inside_vllms_exact_bracket(scenario: Scenario) -> None:
    # Every request of the loaded window started and ended inside it, and Prometheus has scraped the
    # mock vLLM after it: vLLM's count lies in [serverMin, serverMax], so the counts pass with no
    # tolerance at all.
    pods, levels = [PodRef("vllm-0", "llm", "node-a")], [scenario.idle, scenario.loaded]
    exact = GapTolerance(relative=0.0, absolute_ms=25)
    _, (idle, loaded) = await collect_level_metrics(scenario.url, None, pods, levels, tolerance=exact)
    assert loaded.validation is not None
    checks = {c.name: c for c in loaded.validation.checks}
    assert set(checks) == set(CheckName)
    expected = {
        CheckName.COMPLETED_REQUESTS: scenario.requests,
        CheckName.OUTPUT_TOKENS: scenario.loaded.output_tokens,
        CheckName.PROMPT_TOKENS: scenario.requests * PROMPT_TOKENS,
    }
    for name, client in expected.items():
        check = checks[name]
        assert check.client == client
        assert check.server_min is not None
        assert check.server_max is not None
        assert check.server_min <= client <= check.server_max, check
        assert check.passed, check
    # The latency means are test_vllm_series_line_up_with_the_client's: this client shares the CPUs
    # with Prometheus, the exporters and the mock, and its TTFT carries their scheduling noise.
    assert loaded.validation.failed == sum(
        not checks[n].passed for n in (CheckName.TTFT_MEAN, CheckName.E2E_MEAN)
    )
    assert loaded.validation.tolerance_percent == 0
    # The idle level: nothing sent, nothing counted.
    assert idle.validation is not None
    assert all(c.passed and c.client == 0 for c in idle.validation.checks if c.name in expected)


async def test_a_client_count_vllm_never_saw_fails_with_both_numbers(scenario: Scenario) -> None:
    # A client that claims answers vLLM did not count (a cache or another server behind the Service).
    claimed = scenario.loaded._replace(client_successes=scenario.requests * 2)
    _, (level,) = await collect_level_metrics(
        scenario.url, None, [PodRef("vllm-0", "llm", "node-a")], [claimed], tolerance=GapTolerance()
    )
    assert level.validation is not None
    check = next(c for c in level.validation.checks if c.name == CheckName.COMPLETED_REQUESTS)
    assert not check.passed
    assert check.client == scenario.requests * 2
    assert check.server == approx(scenario.requests, rel=0.25)
    assert level.validation.failed >= 1


async def test_the_mock_reports_a_version_like_vllm(scenario: Scenario) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{scenario.vllm_url}/version")
    assert response.json() == {"version": "0.0.0+mock"}


async def test_hostname_fallback_without_pod_mapping(scenario: Scenario) -> None:
    discovery, (idle, loaded) = await collect_level_metrics(
        scenario.url, None, [PodRef("vllm-b", "llm", "node-b")], [scenario.idle, scenario.loaded]
    )
    assert discovery.matched_by == MatchedBy.HOSTNAME
    assert discovery.query == '{Hostname="node-b"}'
    assert discovery.gpu_count == 1
    assert discovery.server_pods is None  # no vLLM series for this pod
    assert idle.gpu is not None
    assert loaded.gpu is not None
    assert loaded.server is None
    # This exporter follows the running requests it polls from the mock vLLM: idle, then up to LOAD.
    # A few power snapshots cannot pin down a polled integral, so bound it by what the script allows.
    assert idle.gpu.power_watts_max == IDLE_WATTS
    assert idle.gpu.energy_joules == approx(IDLE_WATTS * WINDOW_SECONDS, rel=0.03)
    # A scrape may fall between one stream's end and its next request (seen with the two cores busy: 3 of 4
    # running at every scrape), so the peak is a scripted value with at least half the streams running.
    scripted_peaks = {IDLE_WATTS + WATTS_PER_LOAD * k for k in range(LOAD // 2, LOAD + 1)}
    assert loaded.gpu.power_watts_max in scripted_peaks, loaded.gpu
    assert loaded.gpu.energy_joules is not None
    assert loaded.gpu.energy_joules > 2 * IDLE_WATTS * WINDOW_SECONDS
    assert loaded.gpu.energy_joules <= 1.03 * (IDLE_WATTS + WATTS_PER_LOAD * LOAD) * WINDOW_SECONDS
    assert loaded.gpu.sm_active_ratio_mean is None  # no profiling metrics on this exporter


async def test_pod_labels_when_the_exporters_labels_are_honoured(scenario: Scenario) -> None:
    discovery, _ = await collect_level_metrics(
        scenario.url, None, [PodRef("vllm-c", "llm", "node-c")], [scenario.idle, scenario.loaded]
    )
    assert discovery.matched_by == MatchedBy.POD_LABELS
    assert discovery.query == '{namespace="llm",pod="vllm-c"}'


async def test_scraped_labels_are_what_discovery_expects(
    scenario: Scenario, prometheus: PrometheusServer
) -> None:
    (series,) = prometheus.query('DCGM_FI_DEV_GPU_UTIL{Hostname="node-a",gpu="0"}')
    labels = series["metric"]
    assert labels["exported_namespace"] == "llm"
    assert labels["exported_pod"] == "vllm-0"
    assert labels["exported_container"] == "vllm"
    assert labels["namespace"] == "gpu-operator"
    assert labels["pod"] == "nvidia-dcgm-exporter-aaaaa"


async def test_no_series_for_unknown_pods(scenario: Scenario) -> None:
    discovery, levels = await collect_level_metrics(
        scenario.url, None, [PodRef("ghost", "llm", "node-z")], [scenario.idle, scenario.loaded]
    )
    assert not discovery.available
    assert discovery.reason == GpuMetricsReason.NO_SERIES_MATCHED
    assert discovery.queries_tried is not None
    assert len(discovery.queries_tried) == 3
    assert levels == [LevelMetrics(), LevelMetrics()]


async def test_prometheus_down_is_a_reason_not_an_error(scenario: Scenario) -> None:
    started = time.monotonic()
    discovery, levels = await collect_level_metrics(
        f"http://{LOOPBACK}:{free_port()}", "token", [PodRef("vllm-0", "llm", "node-a")], [scenario.loaded]
    )
    assert discovery.reason == GpuMetricsReason.PROMETHEUS_UNREACHABLE
    assert not discovery.available
    assert levels == [LevelMetrics()]
    assert time.monotonic() - started < 5
