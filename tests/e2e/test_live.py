"""Live progress end to end: while a LoadTest runs on the real node, status.progress and the operator's
live gauges (read from its own /metrics) move every few seconds; at the end the live series go and the
final per-level gauges stay; deleting the LoadTest removes every series it had."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.live import encoded_size_bound
from tests.e2e.harness import Cluster, wait_until
from tests.e2e.manifests import mock_vllm_deployment, service
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_loadtest import MOCK_ITL_MS, MOCK_TTFT_MS, condition, get_lt, loadtest

LEVEL_SECONDS = 12
LIVE = ("llmload_live_ttft_p50_seconds", "llmload_live_tpot_p50_seconds", "llmload_live_requests_per_second",
        "llmload_live_level_requests")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def operator_with_metrics(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> Iterator[tuple[OperatorProcess, int]]:
    port = free_port()
    op = OperatorProcess(cluster, namespace, tmp_path, metrics_port=str(port))
    op.start()
    wait_until(lambda: scrape(port) is not None, timeout=60, what="the operator's /metrics")
    yield op, port
    op.stop()
    print(f"\n==== operator log ====\n{op.log_tail()}")


@pytest.fixture
def mock(cluster: Cluster, namespace: str) -> None:
    args = ["--model", "e2e-model", "--ttft-ms", str(MOCK_TTFT_MS), "--itl-ms", str(MOCK_ITL_MS)]
    cluster.apply(mock_vllm_deployment("mock-vllm", cluster.mock_image, gpus=1, args=args), namespace)
    cluster.apply(service("mock-vllm", {"app.kubernetes.io/instance": "mock-vllm"}), namespace)
    cluster.kubectl(
        "rollout", "status", "deployment/mock-vllm", "-n", namespace, "--timeout=90s", timeout=100
    )


def scrape(port: int) -> list[tuple[str, dict[str, str], float]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def series(
    samples: list[tuple[str, dict[str, str], float]], namespace: str, name: str
) -> dict[tuple[str, str], float]:
    """(metric, level) -> value of one LoadTest's llmload_live_* and llmload_level_* series."""
    return {
        (n, labels.get("level", "")): v
        for n, labels, v in samples
        if n.startswith(("llmload_live_", "llmload_level_"))
        and labels.get("namespace") == namespace
        and labels.get("loadtest") == name
        and labels.get("quantile") in (None, "0.5")
        and labels.get("metric") in (None, "ttft")
    }


def test_live_progress_and_gauges_move_while_running_and_go_with_the_loadtest(
    cluster: Cluster, namespace: str, operator_with_metrics: tuple[OperatorProcess, int], mock: None
) -> None:
    _, port = operator_with_metrics
    lt = loadtest("live")
    lt["spec"]["load"] = {"mode": "Concurrency", "levels": [2, 4], "levelDurationSeconds": LEVEL_SECONDS,
                          "timeoutSeconds": 30}  # fmt: skip
    cluster.apply(lt, namespace)

    observed: list[dict[str, Any]] = []
    printed: list[str] = []
    payloads: list[int] = []  # bytes of the shards' progress reports, as the API server holds them
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        status = get_lt(cluster, namespace, "live").get("status") or {}
        samples = scrape(port) or []
        live = {k: v for k, v in series(samples, namespace, "live").items() if k[0] in LIVE}
        progress = status.get("progress") or {}
        if progress.get("live") or live:
            observed.append({"t": time.monotonic(), "progress": progress, "gauges": live})
            maps = cluster.get_json(
                "configmaps", "-n", namespace, "-l", "llmload.io/loadtest=live,llmload.io/shard"
            )
            payloads += [
                len(m["data"]["progress"]) for m in maps["items"] if (m.get("data") or {}).get("progress")
            ]
            if len(printed) < 3 and progress.get("currentLevel") is not None:
                printed.append(cluster.kubectl("get", "lt", "live", "-n", namespace, "-o", "wide").stdout)
        succeeded = condition({"status": status}, "Succeeded")
        if succeeded is not None and succeeded["status"] != "Unknown":
            break
        time.sleep(1.0)

    final = get_lt(cluster, namespace, "live")["status"]
    print("\nkubectl get lt -o wide while running:\n" + "\n".join(printed))
    for o in observed:
        p, w = o["progress"], o["progress"].get("live") or {}
        print(f"t={o['t'] - observed[0]['t']:5.1f}s level {p.get('currentLevel')} {p.get('percent')}% "
              f"level requests {p.get('levelCompletedRequests')} run {p.get('completedRequests')}; live "
              f"{w.get('requestsPerSecond')} req/s TTFT p50 {w.get('ttftMedianMilliseconds')} ms TPOT p50 "
              f"{w.get('tpotMedianMilliseconds')} ms ({w.get('shards')} shards, {w.get('windowSeconds')} s); "
              f"gauges {sorted((k[0].removeprefix('llmload_live_'), k[1], round(v, 4)) for k, v in o['gauges'].items())}")  # fmt: skip
    succeeded = condition({"status": final}, "Succeeded")
    assert succeeded is not None
    assert succeeded["status"] == "True", final
    print(f"progress report of a shard: {min(payloads)} to {max(payloads)} bytes ({len(payloads)} read)")
    assert max(payloads) <= encoded_size_bound() + 1024

    # status.progress moved: at least two different updates per level, the level changed, percent grew.
    levels_seen = {o["progress"].get("currentLevel") for o in observed}
    assert {2, 4} <= levels_seen
    by_level = {lv: [o for o in observed if o["progress"].get("currentLevel") == lv] for lv in (2, 4)}
    for lv, seen in by_level.items():
        counts = [o["progress"].get("levelCompletedRequests") for o in seen]
        assert len(set(counts)) >= 2, (lv, counts)
        assert counts == sorted(counts), (lv, counts)
    percents = [o["progress"]["percent"] for o in observed if o["progress"].get("percent") is not None]
    assert percents == sorted(percents)
    assert percents[-1] < 100
    assert final["progress"]["percent"] == 100
    assert "live" not in final["progress"]

    # The live figures are the mock's: TTFT from its first-token delay, TPOT from its inter-token delay.
    lives = [
        o["progress"]["live"]
        for o in observed
        if (o["progress"].get("live") or {}).get("ttftMedianMilliseconds")
    ]
    assert len(lives) >= 4
    for w in lives:
        assert MOCK_TTFT_MS <= w["ttftMedianMilliseconds"] < MOCK_TTFT_MS + 60, w
        assert MOCK_ITL_MS * 0.9 <= w["tpotMedianMilliseconds"] < MOCK_ITL_MS + 8, w
        assert w["requestsPerSecond"] > 0
        assert w["shards"] >= 1

    # The gauges were set every tick: more than one distinct value, labelled with the level run.
    gauge_updates = [o["gauges"] for o in observed if o["gauges"]]
    assert len({tuple(sorted(g.items())) for g in gauge_updates}) >= 2
    assert {level for g in gauge_updates for _, level in g} <= {"2", "4"}
    assert all(len({level for _, level in g}) == 1 for g in gauge_updates)  # only the current level
    ttft_gauges = [
        v for g in gauge_updates for (n, _), v in g.items() if n == "llmload_live_ttft_p50_seconds"
    ]
    assert ttft_gauges
    assert all(MOCK_TTFT_MS / 1e3 <= v < (MOCK_TTFT_MS + 60) / 1e3 for v in ttft_gauges)

    # The run ended: live series are gone, the final per-level gauges stay.
    after = series(scrape(port) or [], namespace, "live")
    assert not [k for k in after if k[0] in LIVE], after
    assert {lv for (n, lv) in after if n == "llmload_level_requests_per_second"} == {"2", "4"}

    cluster.kubectl("delete", "lt", "live", "-n", namespace)
    wait_until(
        lambda: not series(scrape(port) or [], namespace, "live"),
        timeout=60,
        what="the deleted LoadTest's series to be removed",
    )
