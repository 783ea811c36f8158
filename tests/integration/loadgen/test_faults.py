"""Each injected fault gives a clear error kind, the run carries on, nothing crashes."""

import socket

from loadgen.runner import run

from .conftest import StartMock, small_config


async def test_http_errors_are_counted_by_status(start_mock: StartMock) -> None:
    _, url = await start_mock(error_rate=1.0, error_status=503)
    level = (await run(small_config(url))).levels[0]
    assert level.errors == {"http_503": 12}
    assert level.successes == 0
    assert level.summary().ttft.count == 0


async def test_some_errors_leave_the_rest_measured(start_mock: StartMock) -> None:
    _, url = await start_mock(error_rate=0.5, seed=3)
    level = (await run(small_config(url, requests_per_level=40))).levels[0]
    assert level.requests == 40
    assert 0 < level.errors["http_500"] < 40
    assert level.successes == 40 - level.errors["http_500"]
    assert len(level.raw) == level.successes


async def test_a_stream_cut_half_way_is_a_malformed_stream(start_mock: StartMock) -> None:
    _, url = await start_mock(cut_rate=1.0)
    level = (await run(small_config(url))).levels[0]
    assert level.errors == {"malformed_stream": 12}


async def test_a_stall_beyond_the_timeout_is_a_timeout(start_mock: StartMock) -> None:
    _, url = await start_mock(stall_rate=1.0, stall_seconds=30)
    level = (await run(small_config(url, requests_per_level=4, request_timeout_seconds=0.5))).levels[0]
    assert level.errors == {"timeout": 4}


async def test_a_short_stall_only_shows_in_the_latency(start_mock: StartMock) -> None:
    _, url = await start_mock(stall_rate=1.0, stall_seconds=0.2)
    level = (await run(small_config(url, requests_per_level=4))).levels[0]
    assert level.successes == 4
    summary = level.summary()
    assert summary.itl.max is not None
    assert summary.itl.max >= 199.0


async def test_a_refused_connection_is_a_connection_error(start_mock: StartMock) -> None:
    await start_mock()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    # The model is given, so nothing is asked of a live server: every request meets the dead port.
    config = small_config(f"http://127.0.0.1:{dead_port}", model="mock-model", workload={"calibrate": False})
    level = (await run(config)).levels[0]
    assert level.errors == {"connection": 12}
