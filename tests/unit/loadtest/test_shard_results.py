"""Reading and merging the shards' results in one pass (loadtest/shard_results.py)."""

from loadgen.compact import decode_shard_result, encode_compact
from loadgen.result import RAW_LIMIT
from loadtest_operator.loadtest.shard_results import read_and_merge
from tests.unit.loadgen.helpers import level_from_rows, run_of

ROWS = [(10_000 + i, 50_000 + i, 8, 4, 0) for i in range(50)]


def test_shards_merge_and_an_unreadable_one_is_named() -> None:
    text = encode_compact(run_of([level_from_rows(ROWS)]))
    read = read_and_merge({0: text, 1: "lg3:bm90IHpsaWI=", 2: text})
    assert read.merged is not None
    assert (read.merged.levels[0].successes, read.merged.levels[0].parts) == (100, 2)
    assert read.merged.levels[0].exact  # a small run keeps its raw values: exact figures
    assert list(read.unreadable) == [1]
    assert read.unreadable[1].startswith("shard 1 wrote a result that cannot be read: ")
    assert read.disagree == {}


def test_results_that_do_not_merge_name_every_shard_read() -> None:
    one = encode_compact(run_of([level_from_rows(ROWS)]))
    two = encode_compact(run_of([level_from_rows(ROWS), level_from_rows(ROWS)]))
    read = read_and_merge({0: one, 1: two, 2: "garbage"})
    assert read.merged is None
    assert sorted(read.disagree) == [0, 1]
    assert "results have different numbers of levels: [1, 2]" in read.disagree[0]
    assert list(read.unreadable) == [2]


def test_past_the_raw_limit_the_raw_values_are_not_even_read() -> None:
    rows = [(10_000 + i, 50_000 + i, 8, 4, 0) for i in range(RAW_LIMIT // 2 + 1)]
    text = encode_compact(run_of([level_from_rows(rows)]))
    assert decode_shard_result(text).levels[0].exact  # each shard carries them
    without = decode_shard_result(text, with_raw=False).levels[0]
    assert (len(without.raw), without.histograms) == (0, decode_shard_result(text).levels[0].histograms)
    read = read_and_merge({0: text, 1: text, 2: text})
    assert read.merged is not None
    level = read.merged.levels[0]
    assert (level.exact, len(level.raw), level.successes) == (False, 0, 3 * len(rows))
