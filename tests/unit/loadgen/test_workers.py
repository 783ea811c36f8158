from loadgen.config import build_config
from loadgen.result import LevelResult, RunResult
from loadgen.workers import _ProgressSum


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        self.calls.append(("start", level_index, offered_load, total))

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        self.calls.append(("progress", level_index, completed, total))

    def on_level_end(self, level: LevelResult) -> None:
        pass

    def on_finished(self, result: RunResult) -> None:
        pass


def test_worker_progress_is_summed_for_this_shards_share() -> None:
    # Shard 1 of 2 runs 3 of 7 users and 5 of 11 requests (the remainder goes to shard 0).
    config = build_config(
        {
            "target_url": "http://127.0.0.1:9",
            "levels": [7, 4],
            "requests_per_level": 11,
            "shard_index": 1,
            "shard_count": 2,
        }
    )
    reporter = Recorder()
    progress = _ProgressSum(reporter, config)
    progress.update(0, 0, 1, 3)
    progress.update(1, 0, 2, 2)
    progress.update(0, 1, 0, 3)  # worker 0 moved on: a new level starts the sum afresh
    progress.update(1, 0, 2, 2)  # a late message about the old level is ignored
    assert reporter.calls == [
        ("start", 0, 3, 5),
        ("progress", 0, 1, 5),
        ("progress", 0, 3, 5),
        ("start", 1, 2, 5),
        ("progress", 1, 0, 5),
    ]
