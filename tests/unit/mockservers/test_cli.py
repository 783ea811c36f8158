"""`llmload-mock`: every flag and default the two servers had as a loadgen subcommand and module, kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mockservers.cli import build_parser, main

OPENAI_DEFAULTS = {
    "host": "127.0.0.1", "port": 8000, "model": "mock-model", "version": "0.0.0+mock", "ttft_ms": 0.0,
    "itl_ms": 0.0,
    "batching": False, "step_ms_base": 10.0, "step_ms_per_seq": 0.5, "prefill_ms_per_token": 0.0,
    "default_output_tokens": 16, "max_model_len": 8192, "max_running": 0, "error_rate": 0.0,
    "error_status": 500, "cut_rate": 0.0, "stall_rate": 0.0, "stall_seconds": 5.0, "seed": 0,
    "legacy_cache_metric": False, "no_truth": False, "no_tokenize": False, "fault": None, "fault_every": 1,
    "fault_bytes": 300_000_000, "eos_after_tokens": 0, "prefix_cache": False,
}  # fmt: skip
DCGM_DEFAULTS = {
    "host": "127.0.0.1", "port": 9400, "gpus": 1, "hostname": "mock-node",
    "model_name": "NVIDIA H100 80GB HBM3", "driver_version": "550.54.15", "pod": [], "schedule": None,
    "load_url": None, "constant_load": 0.0, "poll_interval": 0.2, "profiling": False,
    "idle_watts": 60.0, "watts_per_load": 40.0, "max_watts": 700.0, "util_per_load": 20.0,
}  # fmt: skip


@pytest.mark.parametrize(("server", "defaults"), [("openai", OPENAI_DEFAULTS), ("dcgm", DCGM_DEFAULTS)])
def test_each_server_keeps_its_flags_and_defaults(server: str, defaults: dict[str, object]) -> None:
    args = vars(build_parser().parse_args([server]))
    assert args.pop("server") == server
    assert args == defaults


def test_help_names_both_servers_and_their_readiness_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("openai", "dcgm", "mock_server_listening", "mock_dcgm_listening"):
        assert word in text


def test_the_openai_server_refuses_fixed_latency_flags_with_batching(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["openai", "--batching", "--itl-ms", "5"]) == 2
    assert "--step-ms" in capsys.readouterr().err
    assert main(["openai", "--batching", "--step-ms-per-seq", "-1"]) == 2


def test_the_openai_server_refuses_a_fault_period_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openai", "--fault", "hang", "--fault-every", "0"]) == 2
    assert "--fault-every" in capsys.readouterr().err


def test_fault_names_the_faults_the_server_knows() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["openai", "--fault", "nonsense"])
    assert build_parser().parse_args(["openai", "--fault", "endless-event"]).fault == "endless-event"


def test_the_dcgm_stand_in_starts_without_aiohttp_or_asyncio() -> None:
    probe = "import sys; from mockservers import cli; cli.build_parser(); " \
            "print(sorted({'aiohttp', 'asyncio', 'loadgen'} & set(sys.modules)))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
