"""How well merged parts overlapped, and the load the merged window really carried."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.compact import decode_compact, encode_compact
from loadgen.merge import merge_results
from loadgen.result import LevelResult

from .helpers import level_from_rows, run_of

ROW = (300_000, 360_000, 16, 64, 0)


def shard(start: float, seconds: float, requests: int, users: int, mode: str = "concurrency") -> LevelResult:
    """A shard that kept `users` users busy for `seconds` and finished `requests` requests."""
    return level_from_rows(
        [ROW] * requests, start=start, end=start + seconds, busy_seconds=users * seconds, load_mode=mode
    )


def merged(*parts: LevelResult) -> LevelResult:
    return merge_results([run_of([p]) for p in parts]).levels[0]


def test_aligned_shards_add_up_their_rates_and_their_load() -> None:
    a, b = shard(1000.0, 10.0, 220, 8), shard(1000.0, 10.0, 220, 8)
    level = merged(a, b)
    assert level.shard_overlap == 1.0
    assert level.shard_start_spread_ms == 0.0
    assert level.request_throughput == pytest.approx(a.request_throughput + b.request_throughput)
    assert level.achieved_load == pytest.approx(16.0)


def test_shards_started_apart_are_measured_as_such() -> None:
    # The case a user hit: 16 users in two shards whose pods started 50 s apart, each shard done in 5 s.
    level = merged(shard(1000.0, 5.0, 110, 8), shard(1050.0, 5.0, 110, 8))
    assert level.shard_overlap == 0.0
    assert level.shard_start_spread_ms == pytest.approx(50_000.0)
    assert level.achieved_load == pytest.approx(80.0 / 55.0)  # 16 users asked, about 1.5 carried
    assert level.request_throughput == pytest.approx(220 / 55.0)


def test_partial_overlap_is_the_common_stretch_over_the_window() -> None:
    level = merged(shard(1000.0, 10.0, 100, 4), shard(1002.0, 10.0, 100, 4))
    assert level.shard_overlap == pytest.approx(8.0 / 12.0)
    assert level.shard_start_spread_ms == pytest.approx(2000.0)


def test_a_single_part_reports_no_alignment() -> None:
    level = merged(shard(1000.0, 10.0, 100, 4))
    assert level.shard_overlap is None
    assert level.shard_start_spread_ms is None
    assert level.achieved_load == pytest.approx(4.0)


def test_a_part_that_sent_nothing_takes_no_part_in_the_alignment() -> None:
    idle = level_from_rows([], start=2000.0, end=2000.0, busy_seconds=0.0)
    level = merged(shard(1000.0, 10.0, 100, 4), shard(1000.5, 10.0, 100, 4), idle)
    assert level.shard_start_spread_ms == pytest.approx(500.0)


def test_rate_mode_achieved_load_is_requests_sent_per_second() -> None:
    level = merged(shard(1000.0, 10.0, 50, 2, "rate"), shard(1000.0, 10.0, 50, 2, "rate"))
    assert level.achieved_load == pytest.approx(10.0)


def test_results_without_busy_time_have_no_achieved_concurrency() -> None:
    old = level_from_rows([ROW] * 5)
    assert old.achieved_load is None
    assert merged(old, shard(1000.0, 10.0, 5, 1)).achieved_load is None


window = st.tuples(st.floats(0, 100), st.floats(0.1, 100))


@settings(max_examples=100, deadline=None)
@given(st.lists(window, min_size=2, max_size=6), st.integers(1, 5))
def test_merging_merges_equals_merging_every_part_at_once(
    windows: list[tuple[float, float]], cut: int
) -> None:
    """A shard's workers are merged first, then the shards: the figures must not depend on that."""
    parts = [shard(1000.0 + s, d, 10, 2) for s, d in windows]
    cut = min(cut, len(parts) - 1)
    nested = merge_results(
        [merge_results([run_of([p]) for p in group]) for group in (parts[:cut], parts[cut:])]
    )
    flat = merged(*parts)
    level = nested.levels[0]
    assert level.shard_overlap == pytest.approx(flat.shard_overlap, abs=1e-9)
    assert level.shard_start_spread_ms == pytest.approx(flat.shard_start_spread_ms, abs=1e-6)
    assert level.achieved_load == pytest.approx(flat.achieved_load)
    starts, ends = [1000.0 + s for s, _ in windows], [1000.0 + s + d for s, d in windows]
    whole = max(ends) - min(starts)
    assert flat.shard_overlap == pytest.approx(max(0.0, min(ends) - max(starts)) / whole, abs=1e-9)


def test_compact_form_keeps_the_new_figures() -> None:
    result = merge_results([run_of([shard(1000.0, 10.0, 30, 3)]), run_of([shard(1001.0, 10.0, 30, 3)])])
    back = decode_compact(encode_compact(result)).levels[0]
    level = result.levels[0]
    assert (back.shard_overlap, back.shard_start_spread_ms, back.achieved_load, back.busy_seconds) == (
        level.shard_overlap,
        level.shard_start_spread_ms,
        level.achieved_load,
        level.busy_seconds,
    )


def test_busy_time_counts_failed_requests_too() -> None:
    from loadgen.client import Outcome
    from loadgen.recorder import LevelRecorder

    recorder = LevelRecorder()
    recorder.record(
        Outcome(sent=1.0, first_content=1.1, end=1.5, content_chunks=1, usage_output_tokens=1), 1.0
    )
    recorder.record(Outcome(sent=2.0, end=2.25, error="timeout"), 2.0)
    assert recorder.busy_seconds == pytest.approx(0.75)
