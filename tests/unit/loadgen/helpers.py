"""Builders of hand-made results for the unit tests."""

from __future__ import annotations

import base64
import json
import zlib

from loadgen.compact import FORMAT_TAG
from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.result import LevelRaw, LevelResult, RunResult, build_level


def level_from_rows(
    rows: list[tuple[int, int, int, int, int]],
    *,
    start: float = 1000.0,
    end: float = 1010.0,
    errors: dict[str, int] | None = None,
    itl_values: list[float] | None = None,
    slo: Slo | None = None,
    load_mode: str = "concurrency",
    offered_load: int = 4,
    streamed: bool = True,
    turns: list[int] | None = None,
    busy_seconds: float | None = None,
) -> LevelResult:
    """rows: (ttft_us, e2e_us, output_tokens, input_tokens, schedule_lag_us) per successful request."""
    raw = LevelRaw(
        ttft_us=[r[0] for r in rows],
        e2e_us=[r[1] for r in rows],
        output_tokens=[r[2] for r in rows],
        input_tokens=[r[3] for r in rows],
        schedule_lag_us=[r[4] for r in rows],
        turn=turns or [0] * len(rows),
    )
    itl = LogHistogram()
    for v in itl_values or []:
        itl.add(v)
    errors = errors or {}
    return build_level(
        index=0,
        load_mode="rate" if load_mode == "rate" else "concurrency",
        offered_load=offered_load,
        streamed=streamed,
        start=start,
        end=end,
        requests=len(rows) + sum(errors.values()),
        errors=errors,
        raw=raw,
        itl=itl,
        loop_lag=LogHistogram(),
        token_mismatch_count=0,
        usage_missing_count=0,
        slo=slo or Slo(),
        thresholds=SaturationThresholds(),
        busy_seconds=busy_seconds,
    )


def run_of(levels: list[LevelResult], slo: Slo | None = None) -> RunResult:
    config = {"slo": (slo or Slo()).model_dump(), "saturation": SaturationThresholds().model_dump()}
    return RunResult(model="m", config=config, levels=levels)


def zlib_bomb(zero_mib: int) -> str:
    """A compact text that starts like a result (its fields, then one level whose TTFT array claims 2^30
    values) and goes on with `zero_mib` MiB of zeros: each zero is one value, so an unbounded decoder builds
    a list of 8 bytes per zero byte. Built from one compressed 16 MiB block repeated, in under a second."""
    meta = json.dumps(
        run_of([level_from_rows([])]).model_dump(mode="json", exclude={"levels": {"__all__": {"raw"}}})
    )
    head = (
        bytes([len(meta) & 0x7F | 0x80, len(meta) >> 7])
        + meta.encode()
        + bytes([0x80, 0x80, 0x80, 0x80, 0x04])
    )
    zero_block = bytes(16 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    prefix = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = zeros.compress(zero_block) + zeros.flush(zlib.Z_FULL_FLUSH)
    count = zero_mib * (1 << 20) // len(zero_block)
    checksum = zlib.adler32(head)
    for _ in range(count):
        checksum = zlib.adler32(zero_block, checksum)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    stream = b"\x78\xda" + prefix + segment * count + end + checksum.to_bytes(4, "big")
    assert len(head) < 1 << 14
    return FORMAT_TAG + base64.b64encode(stream).decode("ascii")
