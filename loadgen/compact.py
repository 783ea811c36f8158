"""A compact ASCII form of a RunResult for a Kubernetes ConfigMap (1 MiB object limit).

Layout before zlib: varint(len(meta)) + meta JSON (the result without its raw
arrays) + for each level, for each raw array: varint(len) + zigzag varints of
the values. The whole is zlib-compressed (level 9) and base64-encoded. Raw
values are integer microseconds already, so the round trip is exact.
About 20,000 requests take roughly 10 bytes each after compression.
"""

from __future__ import annotations

import base64
import json
import zlib

from loadgen.result import LevelRaw, RunResult

FORMAT_TAG = "lg1:"
_RAW_FIELDS = ("ttft_us", "e2e_us", "output_tokens", "input_tokens", "schedule_lag_us")


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


def decode_compact(text: str) -> RunResult:
    if not text.startswith(FORMAT_TAG):
        raise ValueError(f"not a compact loadgen result (expected prefix {FORMAT_TAG!r})")
    data = zlib.decompress(base64.b64decode(text[len(FORMAT_TAG) :], validate=True))
    meta_len, pos = _get_varint(data, 0)
    meta = json.loads(data[pos : pos + meta_len])
    pos += meta_len
    for level in meta["levels"]:
        raw: dict[str, list[int]] = {}
        for field in _RAW_FIELDS:
            n, pos = _get_varint(data, pos)
            values = []
            for _ in range(n):
                z, pos = _get_varint(data, pos)
                values.append((z >> 1) ^ -(z & 1))
            raw[field] = values
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
