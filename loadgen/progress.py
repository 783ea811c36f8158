"""Progress reporting: a protocol the runner calls (at most ~once a second) and two reporters.

The operator plugs its own reporter (a ConfigMap writer) into the same protocol.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Protocol, TextIO

from loadgen.live import Window, WindowListener
from loadgen.result import LevelResult, RunResult


class ProgressReporter(Protocol):
    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None: ...

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None: ...

    def on_level_end(self, level: LevelResult) -> None: ...

    def on_finished(self, result: RunResult) -> None: ...


class NullReporter:
    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        pass

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        pass

    def on_level_end(self, level: LevelResult) -> None:
        pass

    def on_finished(self, result: RunResult) -> None:
        pass


class FanOutReporter:
    """Passes every call on to several reporters (e.g. the log and a ConfigMap)."""

    def __init__(self, reporters: list[ProgressReporter]) -> None:
        self._reporters = reporters

    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        for r in self._reporters:
            r.on_level_start(level_index, offered_load, total)

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        for r in self._reporters:
            r.on_progress(completed, total, level_index)

    def on_level_end(self, level: LevelResult) -> None:
        for r in self._reporters:
            r.on_level_end(level)

    def on_window(self, window: Window) -> None:
        for r in self._reporters:
            if isinstance(r, WindowListener):
                r.on_window(window)

    def on_finished(self, result: RunResult) -> None:
        for r in self._reporters:
            r.on_finished(result)


class ProgressBar:
    """A one-line bar redrawn in place on a terminal (stderr, so stdout stays clean)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._started = time.monotonic()
        self._label = ""
        self._live = ""  # the live window's figures, shown from the tick after they arrive

    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        self._started = time.monotonic()
        self._label = f"level {level_index + 1} ({offered_load})"
        self._live = ""
        self.on_progress(0, total, level_index)

    def on_window(self, window: Window) -> None:
        ttft, tpot = window.ttft_p50_seconds(), window.tpot_p50_seconds()
        parts = [f"{window.requests_per_second:.1f} req/s"]
        parts += [
            f"{name} p50 {v * 1e3:.1f} ms" for name, v in (("TTFT", ttft), ("TPOT", tpot)) if v is not None
        ]
        self._live = f"  last {window.seconds:.0f}s: " + ", ".join(parts)

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        elapsed = time.monotonic() - self._started
        if total:
            filled = min(self._width, self._width * completed // total)
            bar = "#" * filled + "-" * (self._width - filled)
            text = f"\r{self._label} [{bar}] {completed}/{total}  {elapsed:5.0f}s"
        else:
            text = f"\r{self._label} {completed} done  {elapsed:5.0f}s"
        text += self._live
        self._stream.write(text + "\x1b[K")  # clear what a longer earlier line left behind
        self._stream.flush()

    def on_level_end(self, level: LevelResult) -> None:
        self._stream.write("\n")
        if level.client_saturated:
            self._stream.write(
                f"WARNING: level {level.index + 1} is client-saturated "
                f"({'; '.join(level.saturation_reasons)}); its latencies include client delay\n"
            )
        self._stream.flush()

    def on_finished(self, result: RunResult) -> None:
        pass


class JsonLinesReporter:
    """Quiet structured logs for pods: one JSON object per line, progress every `every` seconds."""

    def __init__(self, stream: TextIO = sys.stdout, every: float = 10.0) -> None:
        self._stream = stream
        self._every = every
        self._last = 0.0

    def _emit(self, event: str, **fields: object) -> None:
        record = {"ts": round(time.time(), 3), "event": event, **fields}
        self._stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._stream.flush()

    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        self._last = time.monotonic()
        self._emit("level_start", level=level_index, offered_load=offered_load, total=total)

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._emit("progress", level=level_index, completed=completed, total=total)

    def on_level_end(self, level: LevelResult) -> None:
        summary = level.summary()

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        self._emit(
            "level_end",
            level=level.index,
            offered_load=level.offered_load,
            requests=level.requests,
            successes=level.successes,
            errors=level.errors,
            request_throughput=round(level.request_throughput, 3),
            output_token_throughput=round(level.output_token_throughput, 3),
            goodput_share=round(level.goodput_share, 4),
            ttft_p50_ms=ms(summary.ttft.p50),
            ttft_p99_ms=ms(summary.ttft.p99),
            tpot_p50_ms=ms(summary.tpot.p50),
            e2e_p99_ms=ms(summary.e2e.p99),
            client_saturated=level.client_saturated,
        )
        if level.client_saturated:
            self._emit("warning", level=level.index, client_saturated=level.saturation_reasons)

    def on_finished(self, result: RunResult) -> None:
        self._emit("finished", levels=len(result.levels), warnings=result.warnings)
