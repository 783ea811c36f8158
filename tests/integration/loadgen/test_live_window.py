"""The runner's live window against the mock server: about once a second, with the mock's latencies."""

from loadgen.live import LIVE_RELATIVE_ERROR, Window
from loadgen.progress import NullReporter
from loadgen.runner import run

from .conftest import StartMock, small_config


class WindowRecorder(NullReporter):
    def __init__(self) -> None:
        self.windows: list[Window] = []

    def on_window(self, window: Window) -> None:
        self.windows.append(window)


async def test_windows_arrive_each_second_with_the_servers_ttft_and_tpot(start_mock: StartMock) -> None:
    _, url = await start_mock(ttft_ms=30, itl_ms=10)
    reporter = WindowRecorder()
    # 2 users, 8 tokens: 30 + 7 x 10 = 100 ms a request, 40 requests: about 2 s.
    await run(small_config(url, levels=[2], requests_per_level=40), reporter)

    windows = reporter.windows
    assert 1 <= len(windows) <= 4
    assert [w.end for w in windows] == sorted(w.end for w in windows)
    last = windows[-1]
    assert last.level == 0
    assert 0 < last.requests <= 40
    ttft, tpot = last.ttft_p50_seconds(), last.tpot_p50_seconds()
    assert ttft is not None
    assert tpot is not None
    assert 0.030 * (1 - LIVE_RELATIVE_ERROR) <= ttft < 0.060
    assert 0.010 * (1 - LIVE_RELATIVE_ERROR) <= tpot < 0.016
    assert last.requests_per_second == last.requests / last.seconds
    print(f"\n{len(windows)} windows; last: {last.requests} requests over {last.seconds:.2f} s, "
          f"{last.requests_per_second:.1f}/s, TTFT p50 {ttft * 1e3:.2f} ms, TPOT p50 {tpot * 1e3:.2f} ms")  # fmt: skip
