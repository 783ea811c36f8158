"""Live figures of the level being run: the last ~10 s of TTFT, TPOT and request rate, mergeable exactly.

A shard cannot send every request while it runs (it patches a ConfigMap every ~2 s), and percentiles
cannot be averaged across shards. So each shard keeps, per progress tick (~1 s), a *slot*: the requests
recorded since the previous tick, their TTFT and TPOT in log-bucketed histograms. Its *window* is the
union of its last WINDOW_SLOTS slots. Windows merge exactly: counts and histogram buckets add, rates
add (each part's requests over its own bounds), bounds take the min start and max end. A p50 read from a
merged window is the sample of rank round(0.5 * (n - 1)) of the union of the parts' samples, within
LIVE_RELATIVE_ERROR (1 %) of it — the same at any number of shards or workers.

The encoded window is bounded whatever the traffic: values are clamped to (1 us, MAX_VALUE_SECONDS], so
a histogram has at most MAX_BUCKETS buckets (see `encoded_size_bound`), measured in
tests/unit/loadgen/test_live.py.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from loadgen.histogram import ZERO_THRESHOLD_S, HistogramData, LogHistogram
from loadgen.result import LevelRaw, tpot_us

WINDOW_SECONDS = 10.0
LIVE_RELATIVE_ERROR = 0.01
# No request under the operator lasts longer (spec.load.timeoutSeconds <= 3600); larger values count as this.
MAX_VALUE_SECONDS = 3600.0
_GAMMA = (1 + LIVE_RELATIVE_ERROR) / (1 - LIVE_RELATIVE_ERROR)
# How many bucket keys values in (1 us, MAX_VALUE_SECONDS] can take (values at or below 1 us: one zero count).
MAX_BUCKETS = (
    math.ceil(math.log(MAX_VALUE_SECONDS) / math.log(_GAMMA))
    - math.ceil(math.log(ZERO_THRESHOLD_S) / math.log(_GAMMA))
    + 1
)


@dataclass
class Window:
    """The live figures of one level over one time span, from one shard or merged from several."""

    level: int
    start: float  # unix seconds
    end: float
    requests: int  # finished in the window, errors included
    requests_per_second: float
    ttft: LogHistogram = field(default_factory=lambda: LogHistogram(LIVE_RELATIVE_ERROR))
    tpot: LogHistogram = field(default_factory=lambda: LogHistogram(LIVE_RELATIVE_ERROR))
    parts: int = 1

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    def ttft_p50_seconds(self) -> float | None:
        return _p50(self.ttft)

    def tpot_p50_seconds(self) -> float | None:
        return _p50(self.tpot)

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "requests": self.requests,
            "rps": round(self.requests_per_second, 4),
            "parts": self.parts,
            "ttft": _encode(self.ttft),
            "tpot": _encode(self.tpot),
        }

    @classmethod
    def from_json(cls, data: object) -> Window:
        """A window from a progress report; ValueError saying what is wrong when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("the window is not a JSON object")
        level, requests, parts = (_int(data, k) for k in ("level", "requests", "parts"))
        start, end, rps = (_number(data, k) for k in ("start", "end", "rps"))
        if end < start or rps < 0:
            raise ValueError("the window's bounds or rate are out of order")
        return cls(
            level, start, end, requests, rps, _decode(data.get("ttft")), _decode(data.get("tpot")), parts
        )


def merge_windows(windows: list[Window]) -> Window | None:
    """The exact union of windows of one level (None for none): counts, buckets and rates add."""
    if not windows:
        return None
    levels = {w.level for w in windows}
    if len(levels) > 1:
        raise ValueError(f"cannot merge windows of different levels {sorted(levels)}")
    merged = Window(
        level=windows[0].level,
        start=min(w.start for w in windows),
        end=max(w.end for w in windows),
        requests=sum(w.requests for w in windows),
        requests_per_second=math.fsum(w.requests_per_second for w in windows),
        parts=sum(w.parts for w in windows),
    )
    for w in windows:
        merged.ttft.merge(w.ttft)
        merged.tpot.merge(w.tpot)
    return merged


@dataclass
class _Slot:
    start: float
    end: float
    requests: int
    ttft: LogHistogram
    tpot: LogHistogram


def slot_of(raw: LevelRaw, since: int, requests: int, start: float, end: float, streamed: bool) -> _Slot:
    """The slot of the successes raw[since:] (recorded in completion order) and `requests` finished."""
    ttft = LogHistogram(LIVE_RELATIVE_ERROR)
    tpot = LogHistogram(LIVE_RELATIVE_ERROR)
    for i in range(since, len(raw.ttft_us)):
        t, e = raw.ttft_us[i], raw.e2e_us[i]
        ttft.add(_clamp(t * 1e-6))
        if streamed:
            value = tpot_us(t, e, raw.output_tokens[i])
            if value is not None:
                tpot.add(_clamp(value * 1e-6))
    return _Slot(start, end, requests, ttft, tpot)


class WindowTracker:
    """One level's sliding window over the last `slots` progress ticks (the runner's ~1 s ticker).

    Each tick histograms only the requests recorded since the last tick, so the event loop spends time
    on each request once, not once per tick it stays in the window."""

    def __init__(
        self, level: int, start: float, streamed: bool, slots: int = round(WINDOW_SECONDS), samples: int = 0
    ) -> None:
        self.level = level
        self.streamed = streamed
        self._slots: deque[_Slot] = deque(maxlen=slots)
        self._last_time = start
        self._last_samples = samples
        self._last_requests = 0

    def tick(self, now: float, raw: LevelRaw, requests: int) -> Window:
        """Add the slot since the last tick (`requests`: all finished in the level so far, errors too)."""
        self._slots.append(
            slot_of(
                raw, self._last_samples, requests - self._last_requests, self._last_time, now, self.streamed
            )
        )
        self._last_time, self._last_samples, self._last_requests = now, len(raw.ttft_us), requests
        window = Window(self.level, self._slots[0].start, now, 0, 0.0)
        for s in self._slots:
            window.requests += s.requests
            window.ttft.merge(s.ttft)
            window.tpot.merge(s.tpot)
        window.requests_per_second = window.requests / window.seconds if window.seconds > 0 else 0.0
        return window


@runtime_checkable
class WindowListener(Protocol):
    """A progress reporter that also takes the live window (called after each on_progress tick)."""

    def on_window(self, window: Window) -> None: ...


def encoded_size_bound() -> int:
    """Upper bound, in bytes, of one window's JSON (json.dumps' default separators), for any values and
    fewer than 10**7 requests per shard in a window: key deltas add up to at most MAX_BUCKETS plus the
    first key, so they take at most ", 1" each; a count at most ", 9999999"."""
    per_bucket = len(", 1") + len(", 9999999")
    return 2 * (MAX_BUCKETS * per_bucket + 80) + 200


# -- encoding -------------------------------------------------------------------------------------------


def _p50(hist: LogHistogram) -> float | None:
    return hist.quantile(50) if hist.count else None


def _clamp(value: float) -> float:
    return min(value, MAX_VALUE_SECONDS)


def _encode(hist: LogHistogram) -> dict[str, Any]:
    """{"k": first key then key deltas, "n": counts, "lo"/"hi": exact min and max in us}."""
    data = hist.to_data()
    keys = list(data.buckets)
    out: dict[str, Any] = {
        "k": [k - p for k, p in zip(keys, [0, *keys], strict=False)],
        "n": list(data.buckets.values()),
    }
    if data.zero_count:
        out["z"] = data.zero_count
    if data.min is not None and data.max is not None:
        out["lo"], out["hi"] = round(data.min * 1e6), round(data.max * 1e6)
    return out


def _decode(data: object) -> LogHistogram:
    if not isinstance(data, dict):
        raise ValueError("a window histogram is not a JSON object")
    deltas, counts = data.get("k", []), data.get("n", [])
    if not (isinstance(deltas, list) and isinstance(counts, list)) or len(deltas) != len(counts):
        raise ValueError("a window histogram's keys and counts are not two lists of one length")
    if len(deltas) > MAX_BUCKETS:
        raise ValueError(f"a window histogram has {len(deltas)} buckets, more than {MAX_BUCKETS}")
    buckets: dict[int, int] = {}
    key = 0
    for i, (delta, n) in enumerate(zip(deltas, counts, strict=True)):
        if type(delta) is not int or type(n) is not int or n <= 0 or (i and delta <= 0):
            raise ValueError("a window histogram's keys must increase and its counts be positive integers")
        key += delta
        buckets[key] = n
    zero = data.get("z", 0)
    if type(zero) is not int or zero < 0:
        raise ValueError("a window histogram's zero count is not a non-negative integer")
    count = zero + sum(buckets.values())
    lo, hi = data.get("lo"), data.get("hi")
    if count and (type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi):
        raise ValueError("a window histogram's lo and hi are not integers in order")
    return LogHistogram.from_data(
        HistogramData(
            relative_error=LIVE_RELATIVE_ERROR,
            buckets=buckets,
            zero_count=zero,
            count=count,
            min=lo * 1e-6 if count and lo is not None else None,
            max=hi * 1e-6 if count and hi is not None else None,
        )
    )


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int or value < 0:
        raise ValueError(f"the window's {key!r} is not a non-negative integer")
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"the window's {key!r} is not a number")
    return float(value)
