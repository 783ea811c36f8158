"""A compact ASCII form of a RunResult for a Kubernetes ConfigMap (1 MiB object limit).

Layout before zlib: varint(len(meta)) + meta JSON (the result without its raw
arrays) + for each level, for each raw array: varint(len) + zigzag varints of
the values. The whole is zlib-compressed (level 9) and base64-encoded. Raw
values are integer microseconds already, so the round trip is exact.

What a shard's result ConfigMap holds (measured in tests/unit/loadgen/test_compact.py):
realistic requests take about 15 bytes of text each, wide-spread ones (TTFT tail to
seconds, outputs of 1 to 4,096 tokens, prompts of 1 to 32,768, rate-mode lag) about
18, a level's figures and histograms about 5 KiB. `result_capacity` sizes a result
from the worst of those, with margin; `decode_compact(..., max_requests=...)` refuses
anything larger than a ConfigMap can carry (a zlib bomb) before it costs memory.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from pydantic import ValidationError

from loadgen.result import LevelRaw, RunResult

FORMAT_TAG = "lg2:"
_RAW_FIELDS = ("ttft_us", "e2e_us", "output_tokens", "input_tokens", "schedule_lag_us", "turn")
# The raw arrays of each format; lg1 (before multi-turn) had no turn, which then reads as all 0.
_FORMATS = {"lg1:": _RAW_FIELDS[:5], FORMAT_TAG: _RAW_FIELDS}

# The API server refuses a ConfigMap whose data exceeds 1 MiB; the result ConfigMap also holds the
# progress key and metadata, so the compact result gets 900 KiB.
CONFIGMAP_BUDGET_BYTES = 900 * 1024
# Compact text per successful request, worst case: wide-spread requests measure about 18 bytes.
MAX_TEXT_BYTES_PER_REQUEST = 20
# Compact text of one level's figures and ITL/loop-lag histograms (about 5 KiB for ITL over six decades),
# and of the run's own fields (its config, calibration, warnings).
LEVEL_META_TEXT_BYTES = 8 * 1024
RUN_META_TEXT_BYTES = 8 * 1024
# The fewest bytes of text a real request takes: a mock server with fixed lengths and microseconds of
# jitter measures about 5.4. A result that fits a ConfigMap holds at most this many requests.
MIN_TEXT_BYTES_PER_REQUEST = 4
MAX_RESULT_REQUESTS = CONFIGMAP_BUDGET_BYTES // MIN_TEXT_BYTES_PER_REQUEST
# Before zlib, a request is five zigzag varints of at most 10 bytes each (64-bit values); the meta JSON of
# 64 levels with every ITL and loop-lag bucket filled (about 50 KB a level) is 3.3 MB, within its allowance.
MAX_RAW_BYTES_PER_REQUEST = len(_RAW_FIELDS) * 10
MAX_RAW_META_BYTES = 8 * 1024 * 1024
_MAX_VARINT_SHIFT = 63  # ten 7-bit groups: every 64-bit value; longer is corruption, and quadratic to build


def result_capacity(levels: int) -> int:
    """The successful requests a result of `levels` levels may hold, in all, and still fit its ConfigMap
    (error counts take no room per request; warm-up requests are not in a result)."""
    room = CONFIGMAP_BUDGET_BYTES - RUN_META_TEXT_BYTES - levels * LEVEL_META_TEXT_BYTES
    return max(room, 0) // MAX_TEXT_BYTES_PER_REQUEST


def max_raw_bytes(max_requests: int) -> int:
    """The most a compact result of at most `max_requests` requests inflates to."""
    return max_requests * MAX_RAW_BYTES_PER_REQUEST + MAX_RAW_META_BYTES


def encode_compact(result: RunResult) -> str:
    meta = result.model_dump(mode="json", exclude={"levels": {"__all__": {"raw"}}})
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    out = bytearray()
    _put_varint(out, len(meta_bytes))
    out += meta_bytes
    for level in result.levels:
        for field in _RAW_FIELDS:
            values: list[int] = getattr(level.raw, field)
            _put_varint(out, len(values))
            for v in values:
                _put_varint(out, (v << 1) ^ (v >> 63))  # zigzag: small negatives stay small
    return FORMAT_TAG + base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


def decode_compact(text: str, *, max_requests: int | None = None) -> RunResult:
    """The RunResult of a compact text. With `max_requests`, a text that would inflate past what that
    many requests take (`max_raw_bytes`), or that holds more requests, is refused before it costs more
    memory or time than such a result: the bound for text from elsewhere (a shard's ConfigMap).

    Every way a text can be wrong raises ValueError, with what is wrong."""
    tag = text[: len(FORMAT_TAG)]
    if tag not in _FORMATS:
        raise ValueError(f"not a compact loadgen result (expected prefix {FORMAT_TAG!r})")
    limit = max_raw_bytes(max_requests) if max_requests is not None else None
    try:
        data = _inflate(base64.b64decode(text[len(tag) :], validate=True), limit)
        return _parse(data, max_requests, _FORMATS[tag])
    except ValidationError as exc:
        raise ValueError(
            f"compact result is corrupt: not a loadgen result ({exc.error_count()} problems: "
            f"{exc.errors()[0]['msg']} at {exc.errors()[0]['loc']})"
        ) from exc
    except (
        binascii.Error,
        zlib.error,
        json.JSONDecodeError,
        IndexError,
        KeyError,
        TypeError,
        RecursionError,
    ) as exc:
        raise ValueError(f"compact result is corrupt: {type(exc).__name__}: {exc}") from exc


def _inflate(compressed: bytes, limit: int | None) -> bytes:
    inflater = zlib.decompressobj()
    # max_length stops zlib one byte past the limit, so a bomb costs at most the limit in memory.
    data = (
        inflater.decompress(compressed, limit + 1) if limit is not None else inflater.decompress(compressed)
    )
    if limit is not None and len(data) > limit:
        raise ValueError(
            f"compact result inflates past {limit} bytes, more than any result a shard can report holds: "
            "a zlib bomb or not a loadgen result"
        )
    if not inflater.eof:
        raise ValueError("compact result is truncated: its zlib stream does not end")
    if inflater.unused_data:
        raise ValueError("compact result has bytes after its zlib stream; it is corrupt")
    return data


def _parse(data: bytes, max_requests: int | None, fields: tuple[str, ...]) -> RunResult:
    meta_len, pos = _get_varint(data, 0)
    if max_requests is not None and meta_len > MAX_RAW_META_BYTES:
        raise ValueError(f"compact result's fields take {meta_len} bytes, more than {MAX_RAW_META_BYTES}")
    meta = json.loads(data[pos : pos + meta_len])
    pos += meta_len
    room = max_requests
    for level in meta["levels"]:
        raw: dict[str, list[int]] = {}
        for field in fields:
            n, pos = _get_varint(data, pos)
            if room is not None and n > room:
                raise ValueError(
                    f"compact result holds more than {max_requests} requests, more than a shard can report"
                )
            values = []
            for _ in range(n):
                z, pos = _get_varint(data, pos)
                values.append((z >> 1) ^ -(z & 1))
            raw[field] = values
        if len({len(values) for values in raw.values()}) > 1:
            raise ValueError("compact result's per-request arrays differ in length; it is corrupt")
        if room is not None:
            room -= len(raw[fields[0]])
        level["raw"] = LevelRaw.model_validate(raw).model_dump()
    if pos != len(data):
        raise ValueError("compact result has trailing bytes; it is corrupt or of another version")
    return RunResult.model_validate(meta)


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varint values must be non-negative")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > _MAX_VARINT_SHIFT:
            raise ValueError("compact result holds a varint longer than 64 bits; it is corrupt")
