import base64
import contextlib
import json
import random
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

import loadgen.compact as compact_module
from loadgen.compact import (
    CONFIGMAP_BUDGET_BYTES,
    FORMAT_TAG,
    LEVEL_META_TEXT_BYTES,
    MAX_RESULT_REQUESTS,
    MAX_TEXT_BYTES_PER_REQUEST,
    MIN_TEXT_BYTES_PER_REQUEST,
    decode_compact,
    encode_compact,
    max_raw_bytes,
    result_capacity,
)
from loadgen.result import RunResult

from .helpers import level_from_rows, run_of, zlib_bomb

Row = tuple[int, int, int, int, int]


def realistic_rows(n: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ttft = int(rng.lognormvariate(11.5, 0.6))  # ~100 ms with a long tail
        out = rng.randint(100, 1000)
        e2e = ttft + int(out * rng.gauss(12_000, 2_000))
        rows.append((ttft, max(e2e, ttft), out, rng.randint(50, 4000), int(rng.expovariate(1 / 500))))
    return rows


def wide_rows(n: int, seed: int) -> list[Row]:
    """The widest spread a real run shows: TTFT from ms to tens of seconds, outputs of 1 to 4,096 tokens,
    prompts of 1 to 32,768, a rate-mode schedule lag of tens of ms."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ttft = int(rng.lognormvariate(13, 1.0))
        out = rng.randint(1, 4096)
        e2e = ttft + int(out * abs(rng.gauss(30_000, 10_000)))
        rows.append((ttft, e2e, out, rng.randint(1, 32_768), int(rng.expovariate(1 / 50_000))))
    return rows


def mock_rows(n: int, seed: int) -> list[Row]:
    """The tightest: a mock server's fixed lengths with microseconds of jitter, concurrency mode."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ttft = 80_000 + rng.randint(0, 2000)
        rows.append((ttft, ttft + 127 * 15_000 + rng.randint(0, 5000), 128, 512, 0))
    return rows


def text_per_request(make: Callable[[int, int], list[Row]], n: int = 20_000) -> float:
    empty = len(encode_compact(run_of([level_from_rows([])])))
    return (len(encode_compact(run_of([level_from_rows(make(n, 1))]))) - empty) / n


def test_round_trip_is_exact() -> None:
    result = run_of(
        [
            level_from_rows(realistic_rows(500, 1), errors={"http_500": 3}, itl_values=[0.01, 0.02, 0.0]),
            level_from_rows([], start=5.0, end=5.0),
        ]
    )
    text = encode_compact(result)
    assert text.isascii()
    assert decode_compact(text) == result
    assert decode_compact(text, max_requests=500) == result


# -- what a result ConfigMap holds ----------------------------------------------------------------------


def test_bytes_per_request_are_within_the_constants_sizing_a_result() -> None:
    realistic, wide, tight = (text_per_request(make) for make in (realistic_rows, wide_rows, mock_rows))
    # Measured: about 14.7, 18.2 and 5.4 bytes of text per request.
    assert realistic < wide < MAX_TEXT_BYTES_PER_REQUEST, (realistic, wide)
    # So a ConfigMap full of the tightest requests holds fewer than MAX_RESULT_REQUESTS: it decodes.
    assert tight > MIN_TEXT_BYTES_PER_REQUEST, tight


def test_a_level_with_a_wide_itl_histogram_is_within_its_allowance() -> None:
    rng = random.Random(5)
    itl = [rng.lognormvariate(-4, 2.0) for _ in range(20_000)]  # 45 µs to 7 s: six decades
    level = level_from_rows([], errors={"http_500": 3, "timeout": 12}, itl_values=itl)
    empty = len(encode_compact(run_of([])))
    assert len(encode_compact(run_of([level]))) - empty < LEVEL_META_TEXT_BYTES


@pytest.mark.parametrize("levels", [1, 64])
def test_a_result_at_its_capacity_fits_a_configmap(levels: int) -> None:
    capacity = result_capacity(levels)
    per_level = capacity // levels
    rng = random.Random(3)
    result = run_of(
        [
            level_from_rows(
                wide_rows(per_level, i), itl_values=[rng.lognormvariate(-4, 2.0) for _ in range(2000)]
            ).model_copy(update={"index": i})
            for i in range(levels)
        ]
    )
    text = encode_compact(result)
    assert len(text) < CONFIGMAP_BUDGET_BYTES, f"{len(text)} bytes for {capacity} requests"
    assert decode_compact(text, max_requests=MAX_RESULT_REQUESTS).levels[-1].raw == result.levels[-1].raw


def test_capacity_figures() -> None:
    # The figures docs/metrics.md quotes.
    assert (result_capacity(1), result_capacity(8), result_capacity(64)) == (45260, 42393, 19456)
    assert MAX_RESULT_REQUESTS == 230_400
    assert result_capacity(1) < MAX_RESULT_REQUESTS  # whatever validation lets through decodes


# -- text that is not a result ------------------------------------------------------------------------------


def test_the_bomb_is_a_valid_zlib_stream() -> None:
    text = zlib_bomb(16)
    assert len(zlib.decompress(base64.b64decode(text[len(FORMAT_TAG) :]))) > 16 << 20


@pytest.mark.parametrize("zero_mib", [64, 512])
def test_a_zlib_bomb_is_refused_in_bounded_time_and_memory(zero_mib: int) -> None:
    text = zlib_bomb(
        zero_mib
    )  # 64 MiB: 87 KB of text, as in the report; 512 MiB: 690 KB, still a ConfigMap's
    assert len(text) < CONFIGMAP_BUDGET_BYTES
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ValueError, match="zlib bomb"):
            decode_compact(text, max_requests=MAX_RESULT_REQUESTS)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    # zlib's output buffer grows up to the bound (about 20 MiB), at worst twice over while it grows.
    assert peak < 2 * max_raw_bytes(MAX_RESULT_REQUESTS) + 4 * len(text), f"{peak / 2**20:.0f} MiB"
    assert max_raw_bytes(MAX_RESULT_REQUESTS) < 24 << 20


def test_more_requests_than_the_bound_are_refused_before_they_are_read() -> None:
    text = encode_compact(run_of([level_from_rows(mock_rows(1000, 1))]))
    with pytest.raises(ValueError, match="more than 999 requests"):
        decode_compact(text, max_requests=999)


def test_foreign_or_corrupt_text_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a compact"):
        decode_compact('{"levels": []}')
    good = encode_compact(run_of([level_from_rows([(1, 2, 3, 4, 5)])]))
    stream = bytearray(base64.b64decode(good[len(FORMAT_TAG) :]))
    stream[-1] ^= 0xFF  # the zlib checksum no longer matches
    with pytest.raises(ValueError, match="corrupt"):
        decode_compact(FORMAT_TAG + base64.b64encode(bytes(stream)).decode("ascii"))
    with pytest.raises(ValueError, match="truncated"):
        decode_compact(good[:-12])


def test_a_result_of_the_format_before_turns_reads_with_every_turn_0() -> None:
    result = run_of([level_from_rows([(1, 2, 3, 4, 5), (6, 7, 8, 9, 10)])])
    raw = bytearray()
    meta = json.dumps(
        result.model_dump(mode="json", exclude={"levels": {"__all__": {"raw"}}}), separators=(",", ":")
    ).encode()
    compact_module._put_varint(raw, len(meta))
    raw += meta
    for field in ("ttft_us", "e2e_us", "output_tokens", "input_tokens", "schedule_lag_us"):
        values = getattr(result.levels[0].raw, field)
        compact_module._put_varint(raw, len(values))
        for v in values:
            compact_module._put_varint(raw, v << 1)
    old = decode_compact("lg1:" + base64.b64encode(zlib.compress(bytes(raw))).decode("ascii"))
    assert old.levels[0].raw.ttft_us == result.levels[0].raw.ttft_us
    assert old.levels[0].raw.turn == [0, 0]


def _compact(raw: bytes) -> str:
    return FORMAT_TAG + base64.b64encode(zlib.compress(raw)).decode("ascii")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff" * 100_000, "longer than 64 bits"),  # would be quadratic to build
        (b"\x02[]", "corrupt: TypeError"),
        (b"\x0f" + b'{"levels":[{}]}' + b"\x01\x05" + b"\x00" * 5, "differ in length"),
        (b"\x02{}", "corrupt: KeyError"),
        (b"\x07" + b"[" * 7, "corrupt"),
    ],
)
def test_garbage_is_a_value_error_saying_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_compact(_compact(raw), max_requests=MAX_RESULT_REQUESTS)


def test_any_damage_to_a_result_is_a_value_error_or_a_result() -> None:
    good = encode_compact(run_of([level_from_rows(realistic_rows(200, 4), itl_values=[0.01, 0.02])]))
    rng = random.Random(9)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    started = time.perf_counter()
    for _ in range(300):
        chars = list(good)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(FORMAT_TAG), len(chars) - 2)] = rng.choice(alphabet)
        with contextlib.suppress(ValueError):  # anything else fails the test
            assert isinstance(decode_compact("".join(chars), max_requests=1000), RunResult)
    assert time.perf_counter() - started < 10
