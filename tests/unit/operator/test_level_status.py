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

    assert levels_status(merge_results(parts)) == levels_status(whole)


def test_a_multi_turn_level_reports_ttft_by_turn_from_1() -> None:
    data = [(10_000, 20_000, 4, 10, 0), (30_000, 40_000, 4, 50, 0), (20_000, 30_000, 4, 12, 0)]
    (status,) = levels_status(run_of([level_from_rows(data, turns=[0, 1, 0])]))
    assert status.ttft_by_turn is not None
    assert [(t.turn, t.requests, t.mean) for t in status.ttft_by_turn] == [(1, 2, 15.0), (2, 1, 30.0)]
    (single,) = levels_status(run_of([level_from_rows(data)]))
    assert single.ttft_by_turn is None


def test_a_level_not_streamed_has_no_ttft_tpot_or_itl() -> None:
    (status,) = levels_status(run_of([level_from_rows(rows(10, 2), streamed=False)]))
    assert (status.ttft, status.tpot, status.itl) == (None, None, None)
    assert status.e2e is not None
