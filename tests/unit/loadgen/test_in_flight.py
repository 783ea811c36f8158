"""Rate mode's cap on outstanding requests: its default, its split across shards, and its saturation rule."""

from loadgen.config import DEFAULT_MAX_IN_FLIGHT, build_config
from loadgen.runner import cap_reasons, in_flight_cap

RATE = {"target_url": "http://127.0.0.1:9", "requests_per_level": 10, "load_mode": "rate"}


def test_unset_the_cap_is_the_default_for_every_process() -> None:
    assert DEFAULT_MAX_IN_FLIGHT == 1024
    assert in_flight_cap(build_config(RATE)) == DEFAULT_MAX_IN_FLIGHT
    for index in range(4):  # not split: what it bounds (tasks, sockets, memory) is each process's own
        config = build_config({**RATE, "shard_index": index, "shard_count": 4})
        assert in_flight_cap(config) == DEFAULT_MAX_IN_FLIGHT


def test_a_set_cap_is_split_across_shards_and_never_zero() -> None:
    shares = [in_flight_cap(build_config({**RATE, "max_in_flight": 10, "shard_index": i, "shard_count": 4}))
              for i in range(4)]  # fmt: skip
    assert shares == [3, 3, 2, 2]
    assert in_flight_cap(build_config({**RATE, "max_in_flight": 1, "shard_index": 1, "shard_count": 2})) == 1


def test_sends_late_behind_the_cap_flag_the_level_only_above_the_schedule_lag_threshold() -> None:
    assert cap_reasons(8, [], 100, 10.0) == []
    assert cap_reasons(8, [0.5], 100, 10.0) == []  # one late send in a hundred is not the p99
    (reason,) = cap_reasons(8, [0.5, 0.5], 100, 10.0)
    assert reason.startswith("in-flight cap 8 reached: 2 of 100 sends waited for a slot (p99 lateness")
    assert cap_reasons(8, [0.002] * 100, 100, 10.0) == []  # every send waited, but briefly
