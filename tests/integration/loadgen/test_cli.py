"""The CLI end to end: `loadgen run` against `llmload-mock openai`, both real processes on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.cli import read_result

from .conftest import mock_process

LOADGEN = [sys.executable, "-m", "loadgen"]


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with mock_process("--itl-ms", "1", "--ttft-ms", "5") as url:
        yield url


def loadgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOADGEN, *args], capture_output=True, text=True, timeout=60, check=False)


def test_run_writes_json_logs_and_a_result(mock_url: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = loadgen(
        "run", "--target-url", mock_url, "--levels", "2,4", "--requests-per-level", "10",
        "--output-tokens", "16", "--slo-ttft-ms", "1000", "--output", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line)["event"] for line in proc.stdout.splitlines()]  # not a TTY: JSON lines
    # ("progress" and "warning" lines may come between, e.g. on a busy machine.)
    lifecycle = [e for e in events if e not in ("progress", "warning")]
    assert lifecycle == ["level_start", "level_end", "level_start", "level_end", "finished"]
    doc = json.loads(out.read_text())
    assert [s["ttft"]["count"] for s in doc["summary"]] == [10, 10]
    result = read_result(out)
    assert [lv.successes for lv in result.levels] == [10, 10]
    assert all(lv.goodput_share == 1.0 for lv in result.levels)


def test_text_mode_prints_the_per_level_table(mock_url: str) -> None:
    proc = loadgen(
        "run", "--target-url", mock_url, "--levels", "3", "--requests-per-level", "6", "--log-format", "text"
    )
    assert proc.returncode == 0, proc.stderr
    header, rule, row = proc.stdout.splitlines()[:3]
    assert "TTFT p50" in header
    assert set(rule) <= {"-", " "}
    cells = row.split()
    assert cells[:5] == ["1", "3u", "6", "6", "0"]
    assert "level 1 (3)" in proc.stderr  # the progress bar


def test_shards_merge_into_the_whole_run(mock_url: str, tmp_path: Path) -> None:
    parts = []
    for index in range(2):
        part = tmp_path / f"shard{index}.txt"
        proc = loadgen(
            "run", "--target-url", mock_url, "--levels", "3", "--requests-per-level", "9",
            "--shard-index", str(index), "--shard-count", "2", "--compact-output", str(part),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        parts.append(part)
    shares = [read_result(p).levels[0] for p in parts]
    assert [(s.offered_load, s.requests) for s in shares] == [(2, 5), (1, 4)]
    merged_path = tmp_path / "merged.json"
    assert loadgen("merge", *map(str, parts), "--output", str(merged_path)).returncode == 0
    merged = read_result(merged_path).levels[0]
    assert (merged.offered_load, merged.requests, merged.successes, merged.parts) == (3, 9, 9, 2)


def test_workers_split_the_load_and_merge(mock_url: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = loadgen(
        "run", "--target-url", mock_url, "--levels", "4", "--requests-per-level", "12", "--workers", "2",
        "--output", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    level = read_result(out).levels[0]
    assert (level.offered_load, level.requests, level.successes, level.parts) == (4, 12, 12, 2)


def test_a_bad_config_exits_2_with_a_message(tmp_path: Path) -> None:
    proc = loadgen("run", "--target-url", "127.0.0.1:1", "--requests-per-level", "1")
    assert proc.returncode == 2
    assert "needs a scheme" in proc.stderr


def test_run_help_documents_the_options() -> None:
    proc = loadgen("run", "--help")
    assert proc.returncode == 0
    for flag in ("--target-url", "--load-mode", "--arrival", "--slo-tpot-ms", "--dataset", "--workers"):
        assert flag in proc.stdout
