"""A compact ASCII form of a RunResult for a Kubernetes ConfigMap (1 MiB object limit).

Layout before zlib (`lg3:`): varint(len(meta)) + meta JSON (the result without its raw arrays and
without its histograms' buckets) + for each level, its histograms' buckets (loop lag, `histograms` in
the meta's order, `turn_ttft`): varint(buckets), the first key zigzag, the gaps to the next keys (4 bytes
each) and the counts (8 bytes each, little-endian); then for each level varint(n) and each raw array's n values as zigzag varints (last, so a reader
that has no use for them stops before). The whole is
zlib-compressed (level 9) and base64-encoded; the round trip is exact.

A result's size is bounded by its buckets, not its requests: it carries raw values only up to
RAW_LIMIT successful requests (about 20 bytes of text each), and `encode_compact` fits the ConfigMap
budget by dropping them, then by coarsening every histogram (gamma squared, ~0.5 % -> 1 % -> 2 %; a
warning says so). `decode_shard_result` refuses anything larger than a shard can write (a zlib bomb)
before it costs memory. Results of older load generators (`lg1:`, `lg2:`: raw values only, up to
LEGACY_MAX_RESULT_REQUESTS) still read; their histograms are built from the raw values.
"""

from __future__ import annotations

import array
import base64
import binascii
import itertools
import json
import sys
import zlib
from typing import Any

from pydantic import ValidationError

from loadgen.config import Slo
from loadgen.histogram import HistogramData, LogHistogram
from loadgen.result import RAW_LIMIT, LevelRaw, LevelResult, RunResult, digest_raw

FORMAT_TAG = "lg3:"
_RAW_FIELDS = ("ttft_us", "e2e_us", "output_tokens", "input_tokens", "schedule_lag_us", "turn")
# The raw arrays of the formats before histograms; lg1 (before multi-turn) had no turn (read as all 0).
_LEGACY = {"lg1:": _RAW_FIELDS[:5], "lg2:": _RAW_FIELDS}

# The API server refuses a ConfigMap whose data exceeds 1 MiB; the result ConfigMap also holds the
# progress key and metadata, so the compact result gets 900 KiB.
CONFIGMAP_BUDGET_BYTES = 900 * 1024
# The most buckets a shard's result holds (all levels and histograms): a level spread over six decades
# has about 1,400 per latency, a realistic one a few hundred. Past it the encoder coarsens.
MAX_RESULT_BUCKETS = 1 << 19
# Before zlib, a request is six zigzag varints of at most 10 bytes each (64-bit values), a bucket a 4-byte
# gap and an 8-byte count (the first key a varint); the meta JSON of 64 levels (about 3 KB a level
# without buckets) is well within its allowance.
MAX_RAW_BYTES_PER_REQUEST = len(_RAW_FIELDS) * 10
MAX_RAW_BYTES_PER_BUCKET = 10 + 4 + 8
MAX_RAW_META_BYTES = 8 * 1024 * 1024
# What the load generators before histograms could write: 900 KiB at 4 bytes a request, at least.
LEGACY_MAX_RESULT_REQUESTS = CONFIGMAP_BUDGET_BYTES // 4
_MAX_VARINT_SHIFT = 63  # ten 7-bit groups: every 64-bit value; longer is corruption, and quadratic to build
_MAX_COARSENINGS = 24


def max_raw_bytes(max_requests: int, max_buckets: int = 0) -> int:
    """The most a compact result of at most `max_requests` raw requests and `max_buckets` buckets
    inflates to."""
    return (
        max_requests * MAX_RAW_BYTES_PER_REQUEST + max_buckets * MAX_RAW_BYTES_PER_BUCKET + MAX_RAW_META_BYTES
    )


def encode_compact(
    result: RunResult,
    *,
    budget: int | None = CONFIGMAP_BUDGET_BYTES,
    raw_limit: int | None = RAW_LIMIT,
    max_buckets: int | None = MAX_RESULT_BUCKETS,
) -> str:
    """The compact text of `result`, at most `budget` characters: raw values only while the result has at
    most `raw_limit` successes and fits, histograms coarsened while over `max_buckets` or the budget.
    None for all three: everything, exactly (a shard's workers hand their results over so)."""
    if raw_limit is not None and sum(level.successes for level in result.levels) > raw_limit:
        result = _without_raw(result)
    coarsenings = 0
    while max_buckets is not None and result_buckets(result) > max_buckets:
        result, coarsenings = _coarsened(result), coarsenings + 1
    text = _encode(_noted(result, coarsenings))
    while budget is not None and len(text) > budget:
        if any(len(level.raw) for level in result.levels):
            result = _without_raw(result)
        elif coarsenings < _MAX_COARSENINGS:
            result, coarsenings = _coarsened(result), coarsenings + 1
        else:
            raise ValueError(f"a result of {len(result.levels)} levels does not fit {budget} bytes")
        text = _encode(_noted(result, coarsenings))
    return text


def result_buckets(result: RunResult) -> int:
    return sum(len(h.buckets) for level in result.levels for h in _slots(level))


def _slots(level: LevelResult) -> list[HistogramData]:
    return [level.loop_lag, *level.histograms.values(), *level.turn_ttft]


def _meta_slots(level: dict[str, Any]) -> list[dict[str, Any]]:
    return [level["loop_lag"], *level["histograms"].values(), *level["turn_ttft"]]


def _without_raw(result: RunResult) -> RunResult:
    return result.model_copy(
        update={"levels": [lv.model_copy(update={"raw": LevelRaw()}) for lv in result.levels]}
    )


def _coarsened(result: RunResult) -> RunResult:
    def coarse(data: HistogramData) -> HistogramData:
        return LogHistogram.from_data(data).coarsened().to_data()

    levels = [
        level.model_copy(
            update={
                "loop_lag": coarse(level.loop_lag),
                "histograms": {k: coarse(h) for k, h in level.histograms.items()},
                "turn_ttft": [coarse(h) for h in level.turn_ttft],
            }
        )
        for level in result.levels
    ]
    return result.model_copy(update={"levels": levels})


def _noted(result: RunResult, coarsenings: int) -> RunResult:
    if not coarsenings or not result.levels:
        return result
    error = max(h.relative_error for level in result.levels for h in _slots(level))
    note = f"histograms coarsened {coarsenings} time(s), to {100 * error:.2f} % relative error, to fit the result"
    return result.model_copy(update={"warnings": [*result.warnings, note]})


def _encode(result: RunResult) -> str:
    meta = result.model_dump(mode="json", exclude={"levels": {"__all__": {"raw"}}})
    for level_meta in meta["levels"]:
        for slot in _meta_slots(level_meta):
            del slot["buckets"]
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    out = bytearray()
    _put_varint(out, len(meta_bytes))
    out += meta_bytes
    for level in result.levels:
        for hist in _slots(level):
            keys = sorted(hist.buckets)
            _put_varint(out, len(keys))
            if keys:
                # Fixed-width arrays, not varints: they read back at C speed (zlib takes the zeros).
                _put_varint(out, _zigzag(keys[0]))
                out += _little(array.array(_GAP, [b - a for a, b in itertools.pairwise(keys)]))
                out += _little(array.array(_COUNT, [hist.buckets[k] for k in keys]))
    # The raw values last: a reader that will not keep them stops before them.
    for level in result.levels:
        _put_varint(out, len(level.raw))
        for field in _RAW_FIELDS:
            values: list[int] = getattr(level.raw, field)
            for v in values:
                _put_varint(out, (v << 1) ^ (v >> 63))  # zigzag: small negatives stay small
    return FORMAT_TAG + base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


_GAP, _COUNT = "I", "Q"  # 4-byte gaps between keys, 8-byte counts, little-endian


def _little(values: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def _zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63)


def decode_shard_result(text: str, *, with_raw: bool = True) -> RunResult:
    """A shard's result read with the bounds of what a shard can write (raw values up to RAW_LIMIT
    requests, MAX_RESULT_BUCKETS buckets; older formats up to LEGACY_MAX_RESULT_REQUESTS requests).
    `with_raw=False`: without its raw values (a merge past RAW_LIMIT has no use for them)."""
    if text.startswith(FORMAT_TAG):
        return decode_compact(text, max_requests=RAW_LIMIT, max_buckets=MAX_RESULT_BUCKETS, with_raw=with_raw)
    return decode_compact(text, max_requests=LEGACY_MAX_RESULT_REQUESTS, max_buckets=0)


def decode_compact(
    text: str, *, max_requests: int | None = None, max_buckets: int | None = None, with_raw: bool = True
) -> RunResult:
    """The RunResult of a compact text. With `max_requests` (and `max_buckets`), a text that would inflate
    past what that many raw requests and buckets take (`max_raw_bytes`), or that holds more, is refused
    before it costs more memory or time than such a result: the bound for text from elsewhere.

    Every way a text can be wrong raises ValueError, with what is wrong."""
    tag = text[: len(FORMAT_TAG)]
    if tag != FORMAT_TAG and tag not in _LEGACY:
        raise ValueError(f"not a compact loadgen result (expected prefix {FORMAT_TAG!r})")
    bounded = max_requests is not None
    limit = max_raw_bytes(max_requests or 0, max_buckets or 0) if bounded else None
    try:
        data = _inflate(base64.b64decode(text[len(tag) :], validate=True), limit)
        if tag == FORMAT_TAG:
            return _parse(data, max_requests, max_buckets if bounded else None, with_raw)
        return _parse_legacy(data, max_requests, _LEGACY[tag])
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
        AttributeError,
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


def _read_meta(data: bytes, bounded: bool) -> tuple[dict[str, Any], int]:
    meta_len, pos = _get_varint(data, 0)
    if bounded and meta_len > MAX_RAW_META_BYTES:
        raise ValueError(f"compact result's fields take {meta_len} bytes, more than {MAX_RAW_META_BYTES}")
    meta: dict[str, Any] = json.loads(data[pos : pos + meta_len])
    return meta, pos + meta_len


def _parse(data: bytes, max_requests: int | None, max_buckets: int | None, with_raw: bool) -> RunResult:
    meta, pos = _read_meta(data, max_requests is not None)
    room, bucket_room = max_requests, max_buckets
    for level in meta["levels"]:
        for slot in _meta_slots(level):
            count, pos = _get_varint(data, pos)
            if bucket_room is not None:
                if count > bucket_room:
                    raise ValueError(
                        f"compact result holds more than {max_buckets} histogram buckets, more than a shard "
                        "writes"
                    )
                bucket_room -= count
            pos = _read_buckets(data, pos, count, slot)
    if not with_raw:
        return _validated(meta)
    for level in meta["levels"]:
        n, pos = _get_varint(data, pos)
        if room is not None:
            if n > room:
                raise ValueError(
                    f"compact result holds more than {max_requests} requests, more than a shard can report"
                )
            room -= n
        raw: dict[str, list[int]] = {}
        for field in _RAW_FIELDS:
            values = []
            for _ in range(n):
                z, pos = _get_varint(data, pos)
                values.append((z >> 1) ^ -(z & 1))
            raw[field] = values
        level["raw"] = raw
    if pos != len(data):
        raise ValueError("compact result has trailing bytes; it is corrupt or of another version")
    return _validated(meta)


def _read_buckets(data: bytes, pos: int, count: int, slot: dict[str, Any]) -> int:
    """One histogram's buckets into its meta slot (as a dict already checked: ints, keys rising, counts
    adding up, so validating the result need not walk them again)."""
    buckets: dict[int, int] = {}
    if count:
        z, pos = _get_varint(data, pos)
        gaps = _read_array(_GAP, data, pos, count - 1)
        pos += gaps.itemsize * (count - 1)
        counts = _read_array(_COUNT, data, pos, count)
        pos += counts.itemsize * count
        if gaps and min(gaps) == 0:
            raise ValueError("compact result's histogram keys repeat; it is corrupt")
        keys = itertools.accumulate(gaps, initial=(z >> 1) ^ -(z & 1))
        buckets = dict(zip(keys, counts, strict=True))
    if sum(buckets.values()) + int(slot.get("zero_count", 0)) != slot.get("count"):
        raise ValueError("compact result's histogram buckets do not add up to its count; it is corrupt")
    slot["buckets"] = buckets
    return pos


def _read_array(code: str, data: bytes, pos: int, n: int) -> array.array[int]:
    values = array.array(code)
    end = pos + values.itemsize * n
    if end > len(data):
        raise IndexError("compact result ends inside a histogram")
    values.frombytes(data[pos:end])
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _validated(meta: dict[str, Any]) -> RunResult:
    """The result of a meta whose buckets were read (and checked) here: validated without them (pydantic
    holds the GIL for the whole call, which for 500,000 buckets is most of a second of a blocked event
    loop in the operator), then handed back."""
    read = [[slot.pop("buckets") for slot in _meta_slots(level)] for level in meta["levels"]]
    result = RunResult.model_validate(meta)
    for level, buckets in zip(result.levels, read, strict=True):
        for hist, values in zip(_slots(level), buckets, strict=True):
            hist.buckets = values
    return result


def _parse_legacy(data: bytes, max_requests: int | None, fields: tuple[str, ...]) -> RunResult:
    """lg1/lg2: raw arrays with their own lengths, the ITL histogram in the meta; histograms, per-turn
    TTFT and SLO tallies are built here from the raw values, as the shard would now."""
    meta, pos = _read_meta(data, max_requests is not None)
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
    result = RunResult.model_validate(meta)
    slo = Slo.model_validate(result.config.get("slo", {}))
    levels = []
    for level in result.levels:
        digest = digest_raw(
            level.raw, level.histogram("itl"), load_mode=level.load_mode, streamed=level.streamed, slo=slo
        )
        update = {
            "histograms": {k: h.to_data() for k, h in digest.histograms.items()},
            "turn_ttft": [h.to_data() for h in digest.turn_ttft],
            "slo_tallies": digest.slo_tallies,
        }
        levels.append(level.model_copy(update=update))
    return result.model_copy(update={"levels": levels})


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
