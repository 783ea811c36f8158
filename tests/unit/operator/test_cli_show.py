"""`llmload show`: a readable table from a LoadTest's status, and JSON for machines."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

from loadtest_operator.cli import main, render

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
    assert "2 {'timeout': 2}" in row
    assert "41.2/44.0/60.1" in row
    assert "90.0%" in row
    assert "missed" in row


def test_show_json_prints_the_levels(tmp_path: Path) -> None:
    path = tmp_path / "lt.json"
    path.write_text(json.dumps(BODY))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["show", "-f", str(path), "--json"]) == 0

    assert json.loads(out.getvalue())[0]["level"] == 8
