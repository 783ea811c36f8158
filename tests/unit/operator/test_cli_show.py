"""`llmload show`: a readable table from a LoadTest's status, and JSON for machines."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from loadtest_operator.api import LoadTestStatus
from loadtest_operator.cli import main, render
from loadtest_operator.loadtest.level_status import levels_status
from tests.unit.loadgen.helpers import run_of
from tests.unit.operator.test_level_status import SLO_RATE, rate_level

BODY = {
    "metadata": {"name": "demo", "namespace": "bench"},
    "status": {
        "phase": "Succeeded",
        "conditions": [
            {"type": "Succeeded", "status": "True", "reason": "Completed", "lastTransitionTime": "2026-11-23T04:00:00Z"}
        ],
        "target": {"display": "service/vllm:8000", "model": "llama", "pods": [{"name": "p", "gpus": 2}],
                   "gpuModels": ["NVIDIA-A100-SXM4-80GB"]},
        "levels": [
            {"level": 8, "requests": 100, "successes": 98, "errorsByKind": {"timeout": 2},
             "requestsPerSecond": 12.5, "outputTokensPerSecond": 800.0, "totalTokensPerSecond": 2400.0,
             "ttft": {"p50": 41.2, "p90": 44.0, "p99": 60.1, "mean": 42.0},
             "goodput": {"count": 90, "perSecond": 11.0, "percent": 90.0}, "withinSlo": False,
             "clientSaturated": True},
        ],
        "bestGoodputLevel": 8,
    },
}  # fmt: skip


def test_render_shows_outcome_target_and_one_row_per_level() -> None:
    text = render(BODY)

    assert "LoadTest bench/demo: Succeeded (Completed)" in text
    assert "2 GPU(s) NVIDIA-A100-SXM4-80GB" in text
    row = next(line for line in text.splitlines() if line.startswith("8 "))
    assert "(client-bound)" in row
    assert "41.2/44.0/60.1" in row
    assert "90.0%" in row
    assert "missed" in row
    assert "level 8 errors: timeout=2" in text.splitlines()
    assert "level 8 client-bound: no reason recorded" in text.splitlines()
    assert "Rate mode" not in text  # no level says its latency starts at the schedule


def test_show_json_prints_the_levels(tmp_path: Path) -> None:
    path = tmp_path / "lt.json"
    path.write_text(json.dumps(BODY))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["show", "-f", str(path), "--json"]) == 0

    assert json.loads(out.getvalue())[0]["level"] == 8


def rate_body() -> dict[str, object]:
    """A LoadTest whose status came from a real loadgen level: Rate mode, half the requests queued 300 ms
    behind the in-flight cap, a busy event loop, token-count trouble, two error kinds."""
    level = rate_level([0] * 50 + [300_000] * 50, errors={"timeout": 4, "http_503": 1})
    status = LoadTestStatus(levels=levels_status(run_of([level], SLO_RATE)))
    return {
        "metadata": {"name": "rate", "namespace": "bench"},
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def cell(text: str, title: str, row_start: str) -> str:
    """The value under column `title` in the row starting with `row_start` (columns are left-aligned)."""
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Level "))
    row = next(line for line in lines if line.startswith(row_start))
    start = header.index(title)
    return row[start:].split("  ")[0].strip()


def test_rate_mode_table_shows_the_headline_from_the_schedule_and_says_so() -> None:
    text = render(rate_body())

    assert cell(text, "TTFT p50/p90/p99 ms", "20 ") == "250.0/400.0/400.0"  # 100 ms answers, 300 ms queued
    assert cell(text, "E2E p50/p99 ms", "20 ") == "550.0/700.0"
    assert any(
        line.startswith("Rate mode: TTFT and E2E count from each request's scheduled")
        for line in text.splitlines()
    )
    assert "level 20 errors: http_503=1, timeout=4" in text
    assert "level 20 client-bound: event-loop lag p50 51.0 ms > 2 ms; " in text
    assert (
        "level 20: 3 replies of the wrong length (not as pinned, or usage below the content chunks), 2 without usage"
        in text
    )


def test_wide_adds_tails_from_send_figures_schedule_and_loop_lag() -> None:
    text = render(rate_body(), wide=True)

    assert cell(text, "TTFT p95/p99.9 ms", "20 ") == "400.0/400.0"
    assert cell(text, "TTFT from send p50/p99 ms", "20 ") == "100.0/100.0"
    assert cell(text, "E2E from send p50/p99 ms", "20 ") == "400.0/400.0"
    assert cell(text, "Sched lag p50/p99 ms", "20 ") == "150.0/300.0"
    assert cell(text, "Loop lag p50/p99/max ms", "20 ") == "51.0/98.8/100.0"
    assert cell(text, "Tok mismatch/no usage", "20 ") == "3/2"


def test_level_detail_lists_every_figure() -> None:
    text = render(rate_body(), level=20)
    lines = text.splitlines()

    assert "level 20: TTFT and E2E from the scheduled send time" in lines
    assert "requests 105, successes 100, errors 5 (http_503=1, timeout=4)" in lines
    assert "goodput 50 (47.6%, 5.00/s), SLO missed" in lines
    assert "token mismatches 3, usage missing 2" in lines
    assert next(line for line in lines if line.startswith("latency ms")).split()[2:] == [
        "p50", "p90", "p95", "p99", "p99.9", "mean",
    ]  # fmt: skip

    def cells(title: str) -> list[str]:
        return next(line for line in lines if line.startswith(title + "  "))[len(title) :].split()

    assert cells("TTFT") == ["250.00", "400.00", "400.00", "400.00", "400.00", "250.00"]
    assert cells("TTFT from send") == ["100.00"] * 6
    assert cells("E2E") == ["550.00", "700.00", "700.00", "700.00", "700.00", "550.00"]
    assert cells("E2E from send") == ["400.00"] * 6
    assert cells("schedule lag") == ["150.00", "300.00", "300.00", "300.00", "300.00", "150.00"]
    assert cells("TPOT") == ["10.00"] * 6
    assert len(cells("ITL")) == 6
    assert (
        "client SATURATED: event-loop lag p50/p99/max 51.0/98.8/100.0 ms, schedule lag p99 300.0 ms" in lines
    )
    assert "  - schedule lag p99 300.0 ms > 10 ms" in lines


def test_level_detail_of_an_unknown_level_says_which_levels_there_are() -> None:
    with pytest.raises(SystemExit, match=r"no results for level 7 \(levels with results: 20\)"):
        render(rate_body(), level=7)


def test_json_output_of_one_level(tmp_path: Path) -> None:
    path = tmp_path / "lt.json"
    path.write_text(json.dumps(rate_body()))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["show", "-f", str(path), "-o", "json", "--level", "20"]) == 0

    (level,) = json.loads(out.getvalue())
    assert level["latencyFrom"] == "ScheduledTime"
    assert level["ttftFromSend"]["p999"] == 100.0
    assert level["saturation"]["loopLagMillisecondsMax"] == 100.0
