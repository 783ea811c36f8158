"""Every figure loadgen measures, from its result to status and into the store, on SQLite and PostgreSQL.

The last test runs the real load generator in Rate mode against the mock OpenAI server on 127.0.0.1 with
an in-flight cap of 1: the server answers each request in about 100 ms, so the queueing behind the cap
must show in the headline latency, the goodput and the SLO verdict, in status and in the stored row.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from loadgen.merge import merge_results
from loadgen.runner import run
from loadtest_operator.api import LatencyFrom, LatencySummary, LevelResult
from loadtest_operator.io.store import level_row, list_level_results, save_run, upgrade
from loadtest_operator.io.store.models import LevelResultRow
from loadtest_operator.loadtest.level_status import levels_status
from tests.integration.loadgen.conftest import StartMock, small_config, start_mock
from tests.integration.store.test_repository import make_run
from tests.unit.loadgen.helpers import run_of
from tests.unit.operator.test_level_status import SLO_RATE, rate_level

pytestmark = pytest.mark.integration
__all__ = ["start_mock"]  # the mock server fixture, shared with the loadgen tests

STATS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p999": "p999", "mean": "mean"}


def assert_columns(row: LevelResultRow, prefix: str, summary: LatencySummary | None) -> None:
    for stat, attribute in STATS.items():
        expected = getattr(summary, attribute) if summary else None
        assert getattr(row, f"{prefix}_{stat}_ms") == (
            None if expected is None else pytest.approx(expected)
        ), prefix


def assert_stored(row: LevelResultRow, status: LevelResult) -> None:
    """The row holds every figure of `status`: columns for the ones people query, the rest in `result`."""
    assert row.latency_from == (status.latency_from or LatencyFrom.SEND_TIME).value
    for prefix in ("ttft", "tpot", "itl", "e2e", "ttft_from_send", "e2e_from_send", "schedule_lag"):
        assert_columns(row, prefix, getattr(status, prefix))
    assert (row.token_mismatches, row.usage_missing) == (status.token_mismatches, status.usage_missing)
    saturation = status.saturation
    assert saturation is not None
    assert row.loop_lag_p50_ms == saturation.loop_lag_milliseconds_p50
    assert row.loop_lag_p99_ms == saturation.loop_lag_milliseconds_p99
    assert row.loop_lag_max_ms == saturation.loop_lag_milliseconds_max
    assert row.within_slo == status.within_slo
    assert row.client_saturated == status.client_saturated
    # The whole per-level status object, as written to status: error kinds, reasons, and any figure
    # added later without a column of its own.
    assert LevelResult.model_validate(row.result) == status


@pytest.fixture
def store(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


def test_every_figure_of_a_rate_level_is_stored(store: Engine) -> None:
    level = rate_level([0] * 50 + [300_000] * 50, errors={"timeout": 4, "http_503": 1})
    (status,) = levels_status(run_of([level], SLO_RATE))
    save_run(store, make_run(), [level_row("uid-1", 0, status)])

    (row,) = list_level_results(store, "uid-1", 0)
    assert_stored(row, status)
    assert row.latency_from == "ScheduledTime"
    assert row.ttft_p90_ms == 400.0  # from the schedule
    assert row.ttft_from_send_p90_ms == 100.0
    assert row.schedule_lag_p99_ms == 300.0
    assert (row.token_mismatches, row.usage_missing) == (3, 2)
    assert row.result["errorsByKind"] == {"http_503": 1, "timeout": 4}
    assert len(row.result["saturation"]["reasons"]) == 3


async def test_rate_mode_queueing_behind_the_cap_shows_in_status_and_store(
    start_mock: StartMock, store: Engine
) -> None:
    _, url = await start_mock(ttft_ms=100, itl_ms=5)
    config = small_config(
        url, load_mode="rate", arrival="constant", levels=[20], requests_per_level=8, max_in_flight=1,
        workload={"input_tokens": {"mean": 40}, "output_tokens": 4}, slo={"ttft_ms": 250, "percentile": 90},
    )  # fmt: skip
    began = datetime.now(UTC)
    result = merge_results([await run(config)])
    (status,) = levels_status(result)

    # One request at a time, each about 100 ms, scheduled every 50 ms: the k-th waits about k*50 ms.
    assert status.successes == 8
    assert status.latency_from is LatencyFrom.SCHEDULED_TIME
    assert status.ttft is not None
    assert status.ttft_from_send is not None
    assert status.schedule_lag is not None
    assert status.ttft_from_send.p90 is not None
    assert status.ttft_from_send.p90 < 200  # the server was quick
    assert status.ttft.p90 is not None
    assert status.ttft.p90 > status.ttft_from_send.p90 + 200  # the user waited in the queue
    assert status.schedule_lag.p99 is not None
    assert status.schedule_lag.p99 > 250
    assert status.within_slo is False  # judged from the schedule
    assert status.goodput is not None
    assert status.goodput.count < 8
    assert status.client_saturated
    saturation = status.saturation
    assert saturation is not None
    assert any("in-flight cap 1 reached" in r for r in saturation.reasons or [])
    assert saturation.loop_lag_milliseconds_max is not None
    assert status.start is not None
    assert status.start >= began.replace(microsecond=0)

    save_run(store, make_run(), [level_row("uid-1", 0, status)])
    (row,) = list_level_results(store, "uid-1", 0)
    assert_stored(row, status)
    assert row.ttft_p90_ms is not None
    assert row.ttft_from_send_p90_ms is not None
    assert row.ttft_p90_ms > row.ttft_from_send_p90_ms + 200


def test_a_level_from_an_older_operator_is_stored_as_timed_from_the_send(store: Engine) -> None:
    # Re-ingesting a finished LoadTest whose status predates latencyFrom and the new figures.
    old = LevelResult.model_validate(
        {"level": 4, "requests": 10, "successes": 10, "requestsPerSecond": 1.0, "outputTokensPerSecond": 9.0,
         "totalTokensPerSecond": 20.0, "ttft": {"p50": 40.0, "p90": 50.0, "p99": 60.0, "mean": 45.0}}
    )  # fmt: skip
    save_run(store, make_run(), [level_row("uid-1", 0, old)])

    (row,) = list_level_results(store, "uid-1", 0)
    assert row.latency_from == "SendTime"
    assert (row.ttft_p99_ms, row.ttft_p999_ms, row.ttft_from_send_p99_ms) == (60.0, None, None)
    assert (row.token_mismatches, row.usage_missing, row.loop_lag_max_ms) == (0, 0, None)
