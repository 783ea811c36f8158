"""The in-pod ConfigMap reporter: cumulative progress, the final result, errors, and in-cluster setup."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from loadgen.compact import decode_compact
from loadgen.k8s_report import ApiEndpoint, ConfigMapReporter, ConfigMapWriter, ShardRestartedError, claim
from tests.unit.loadgen.helpers import level_from_rows, run_of


class RecordingWriter(ConfigMapWriter):
    """Keeps every patch instead of sending it: the HTTP side is covered by the e2e tests."""

    def __init__(self) -> None:
        self.patches: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def patch(self, data: dict[str, str]) -> None:
        with self.lock:
            self.patches.append(dict(data))


def progress_of(patch: dict[str, str]) -> dict[str, object]:
    value: dict[str, object] = json.loads(patch["progress"])
    return value


def test_progress_is_cumulative_across_levels_and_the_result_lands_last() -> None:
    writer = RecordingWriter()
    reporter = ConfigMapReporter(writer, interval_seconds=0.01)
    rows = [(1000, 5000, 4, 8, 0)] * 5
    level = level_from_rows(rows)

    reporter.on_level_start(0, 2, 5)
    reporter.on_progress(3, 5, 0)
    reporter.on_level_end(level)
    reporter.on_level_start(1, 4, 5)
    reporter.on_progress(2, 5, 1)
    result = run_of([level, level])
    reporter.on_finished(result)

    final = writer.patches[-1]
    assert decode_compact(final["result"]) == result
    assert progress_of(final)["state"] == "finished"
    assert progress_of(final)["levelsDone"] == 2
    assert progress_of(final)["completed"] == 7  # 5 of level 0, then 2 of level 1


def test_an_error_is_written_with_a_failed_state() -> None:
    writer = RecordingWriter()
    reporter = ConfigMapReporter(writer, interval_seconds=0.01)

    reporter.report_error("invalid run config: levels must be positive")

    assert writer.patches[-1]["error"] == "invalid run config: levels must be positive"
    assert progress_of(writer.patches[-1])["state"] == "failed"


def test_outside_a_pod_the_endpoint_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(RuntimeError, match="drop the flag"):
        ApiEndpoint.in_cluster(tmp_path)


class SeenWriter(RecordingWriter):
    def __init__(self, data: dict[str, str]) -> None:
        super().__init__()
        self.data = data

    def read(self) -> dict[str, str]:
        return self.data


def test_a_fresh_shard_claims_its_configmap() -> None:
    claim(SeenWriter({}))


@pytest.mark.parametrize("key", ["progress", "result", "error"])
def test_a_restarted_shard_refuses_to_send_its_requests_twice(key: str) -> None:
    with pytest.raises(ShardRestartedError, match="earlier pod"):
        claim(SeenWriter({key: "{}"}))
