"""The stand-in dcgm-exporter: its script, its exact energy integral and its exposition format."""

from __future__ import annotations

import re

import pytest

from mockservers.cli import build_parser
from mockservers.dcgm import (
    BOOT_ENERGY_MJ,
    Exporter,
    GpuIdentity,
    GpuScript,
    PolledLoad,
    Schedule,
    make_exporter,
    parse_pod_mapping,
    running_requests,
)
from mockservers.vllm_metrics import VllmMetrics


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def exporter(signal: Schedule | PolledLoad, clock: Clock, gpus: int = 1, profiling: bool = False) -> Exporter:
    pods = {0: ("llm", "vllm-0", "vllm")}
    ids = [GpuIdentity(i, f"GPU-{i}", pods.get(i)) for i in range(gpus)]
    return Exporter(ids, "node-a", "NVIDIA L4", "550.54.15", GpuScript(), signal, profiling, clock)


def energy_mj(text: str, gpu: int = 0) -> int:
    match = re.search(
        rf'^DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION\{{gpu="{gpu}",.*\}} (\d+)$', text, re.MULTILINE
    )
    assert match is not None
    return int(match.group(1)) - BOOT_ENERGY_MJ - 1_000_000 * gpu


def value(text: str, metric: str, gpu: int = 0) -> str:
    match = re.search(rf'^{metric}\{{gpu="{gpu}",.*\}} (\S+)$', text, re.MULTILINE)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("load", "watts", "util"),
    [(0, 60.0, 0), (1, 100.0, 20), (4, 220.0, 80), (6, 300.0, 100), (20, 700.0, 100)],
)
def test_script(load: float, watts: float, util: int) -> None:
    script = GpuScript()
    assert script.power(load) == watts
    assert script.utilization(load) == util


def test_schedule_steps() -> None:
    s = Schedule.parse("110:4, 100:2 ,120:0")
    assert s.times == (100.0, 110.0, 120.0)
    assert [s.load_at(t) for t in (99.9, 100.0, 109.99, 110.0, 130.0)] == [0.0, 2.0, 2.0, 4.0, 0.0]
    assert s.breakpoints(100.0, 120.0) == [110.0]
    with pytest.raises(ValueError, match="empty"):
        Schedule.parse(" , ")


def test_energy_integrates_the_schedule_exactly_across_steps() -> None:
    clock = Clock(95.0)
    ex = exporter(Schedule.parse("100:4,105:0"), clock)
    ex.start()
    clock.now = 107.0  # one scrape after both steps: 5 s at 60 W, 5 s at 220 W, 2 s at 60 W
    assert energy_mj(ex.render()) == (5 * 60 + 5 * 220 + 2 * 60) * 1000
    clock.now = 108.5
    assert energy_mj(ex.render()) == (5 * 60 + 5 * 220 + 3.5 * 60) * 1000


def test_polled_load_integrates_the_old_value_until_the_change() -> None:
    clock = Clock(0.0)
    ex = exporter(PolledLoad(), clock)
    ex.start()
    clock.now = 2.0
    ex.set_load(4)
    clock.now = 3.0
    text = ex.render()
    assert energy_mj(text) == (2 * 60 + 1 * 220) * 1000
    assert value(text, "DCGM_FI_DEV_POWER_USAGE") == "220.000000"
    assert value(text, "DCGM_FI_DEV_GPU_UTIL") == "80"


def test_exposition_is_dcgm_exporters() -> None:
    text = exporter(PolledLoad(1), Clock(0.0), gpus=2, profiling=True).render()
    assert (
        "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).\n" in text
    )
    assert "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n" in text
    assert "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n" in text
    assert "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).\n" in text
    mapped = (
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-0",device="nvidia0",modelName="NVIDIA L4",Hostname="node-a",'
        'DCGM_FI_DRIVER_VERSION="550.54.15",container="vllm",namespace="llm",pod="vllm-0"} 20\n'
    )
    unmapped = (
        'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-1",device="nvidia1",modelName="NVIDIA L4",Hostname="node-a",'
        'DCGM_FI_DRIVER_VERSION="550.54.15"} 20\n'
    )
    assert mapped in text
    assert unmapped in text
    assert value(text, "DCGM_FI_PROF_SM_ACTIVE") == "0.200000"
    used, free = int(value(text, "DCGM_FI_DEV_FB_USED")), int(value(text, "DCGM_FI_DEV_FB_FREE"))
    assert used + free == GpuScript().fb_total_mib


def test_profiling_metrics_only_when_asked() -> None:
    assert "DCGM_FI_PROF_" not in exporter(PolledLoad(), Clock(0.0)).render()


def test_running_requests_reads_the_mock_vllm_page() -> None:
    metrics = VllmMetrics("m", 8192)
    metrics.running = 3
    assert running_requests(metrics.render(0)) == 3.0
    assert running_requests("vllm:num_requests_running 2\nvllm:num_requests_running_other 9\n") == 2.0


def test_pod_mapping() -> None:
    assert parse_pod_mapping(["0=llm/vllm-0/vllm", "3=a/b/c"]) == {
        0: ("llm", "vllm-0", "vllm"),
        3: ("a", "b", "c"),
    }
    with pytest.raises(ValueError, match="INDEX=NAMESPACE/POD/CONTAINER"):
        parse_pod_mapping(["0=llm/vllm-0"])


def test_command_line_builds_the_exporter() -> None:
    args = build_parser().parse_args(
        [
            "dcgm",
            "--gpus",
            "2",
            "--hostname",
            "node-b",
            "--pod",
            "1=llm/p/c",
            "--schedule",
            "10:1",
            "--idle-watts",
            "50",
        ]
    )
    ex = make_exporter(args)
    assert [g.pod for g in ex.gpus] == [None, ("llm", "p", "c")]
    assert ex.gpus[0].uuid != ex.gpus[1].uuid
    assert ex.gpus[0].uuid.startswith("GPU-")
    assert ex.script.idle_watts == 50.0
    assert isinstance(ex.signal, Schedule)
    assert build_parser().parse_args(["dcgm"]).host == "127.0.0.1"
