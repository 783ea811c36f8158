"""loadgen's merged levels → status levels: the figures a user reads in `kubectl get -o yaml`."""

from __future__ import annotations

import random

from loadgen.config import Slo
from loadgen.merge import merge_results
from loadtest_operator.loadtest.level_status import levels_status
from tests.unit.loadgen.helpers import level_from_rows, run_of

SLO = Slo(ttft_ms=50.0, percentile=90)


def rows(n: int, seed: int) -> list[tuple[int, int, int, int, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ttft = rng.randint(10_000, 90_000)
        out.append((ttft, ttft + rng.randint(100_000, 400_000), 64, 128, 0))
    return out


def test_status_levels_carry_the_figures_in_milliseconds() -> None:
    level = level_from_rows(rows(40, 1), errors={"http_500": 2}, slo=SLO, itl_values=[8000.0, 9000.0])
    (status,) = levels_status(run_of([level], SLO))

    summary = level.summary(SLO)
    assert (status.level, status.requests, status.successes) == (4, 42, 40)
    assert status.errors_by_kind == {"http_500": 2}
    assert status.ttft is not None
    assert status.ttft.p50 == round(summary.ttft.p50 or 0, 3)
    assert status.e2e is not None
    assert status.e2e.p99 == round(summary.e2e.p99 or 0, 3)
    assert status.goodput is not None
    assert status.goodput.count == level.goodput_count
    assert status.within_slo is summary.slo_met
    assert status.start is not None
    assert status.start.timestamp() == level.start


def test_without_an_slo_there_is_no_goodput_and_no_verdict() -> None:
    (status,) = levels_status(run_of([level_from_rows(rows(10, 2))]))

    assert status.goodput is None
    assert status.within_slo is None


def test_merged_shards_give_the_same_status_as_the_whole() -> None:
    all_rows = rows(60, 3)
    whole = run_of([level_from_rows(all_rows, slo=SLO)], SLO)
    # Two shards, each with half of the 4 users and of the requests.
    parts = [run_of([level_from_rows(all_rows[i::2], slo=SLO, offered_load=2)], SLO) for i in range(2)]

    (merged,) = levels_status(merge_results(parts))
    # The shards ran over the same window: they overlapped wholly, and otherwise the figures are the whole's.
    assert (merged.shard_overlap, merged.shard_start_spread_milliseconds) == (1.0, 0.0)
    alignment = {"shard_overlap": None, "shard_start_spread_milliseconds": None}
    assert [merged.model_copy(update=alignment)] == levels_status(whole)
