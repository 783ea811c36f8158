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
    MAX_RESULT_BUCKETS,
    decode_compact,
    decode_shard_result,
    encode_compact,
    max_raw_bytes,
    result_buckets,
)
from loadgen.config import Slo
from loadgen.result import RAW_LIMIT, RunResult

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


SLO = Slo(ttft_ms=500, tpot_ms=30, e2e_ms=20_000)


def test_round_trip_is_exact() -> None:
    result = run_of(
        [
            level_from_rows(
                realistic_rows(500, 1), errors={"http_500": 3}, itl_values=[0.01, 0.02, 0.0], slo=SLO
            ),
            level_from_rows([], start=5.0, end=5.0),
            level_from_rows(
                realistic_rows(50, 2), load_mode="rate", turns=[i % 3 for i in range(50)], slo=SLO
            ),
        ],
        SLO,
    )
    text = encode_compact(result)
    assert text.isascii()
    assert decode_compact(text) == result
    assert decode_shard_result(text) == result
    assert decode_compact(text).levels[0].exact


def test_a_result_above_the_raw_limit_carries_its_histograms_and_the_same_figures() -> None:
    rows = realistic_rows(RAW_LIMIT + 1, 7)
    result = run_of([level_from_rows(rows, load_mode="rate", slo=SLO)], SLO)
    back = decode_shard_result(encode_compact(result))
    level, original = back.levels[0], result.levels[0]
    assert len(level.raw) == 0
    assert not level.exact
    assert (level.successes, level.goodput_count, level.output_tokens_total) == (
        original.successes,
        original.goodput_count,
        original.output_tokens_total,
    )
    assert level.histograms == original.histograms
    assert level.slo_tallies == original.slo_tallies
    # The verdict is exact either way; the percentiles are within the histograms' 0.5 %.
    assert back.summaries()[0].slo_met == result.summaries()[0].slo_met
    exact, approx = original.summary(), level.summary()
    for name in ("ttft", "e2e", "tpot", "ttft_from_schedule", "e2e_from_schedule"):
        for q in ("p50", "p90", "p99", "p99_9"):
            a, b = getattr(getattr(exact, name), q), getattr(getattr(approx, name), q)
            assert b == pytest.approx(a, rel=0.005 * (1 + 1e-9)), (name, q)
        # Means are exact to the nanosecond a histogram sums in (TPOT's values are fractions of a us).
        assert getattr(approx, name).mean == pytest.approx(getattr(exact, name).mean, abs=1e-6)


# -- what a result ConfigMap holds ----------------------------------------------------------------------


def _text_for(make: Callable[[int, int], list[Row]], n: int) -> int:
    return len(encode_compact(run_of([level_from_rows(make(n, 1), load_mode="rate", slo=SLO)], SLO)))


def test_a_results_size_is_bounded_by_buckets_not_requests() -> None:
    # Measured: 5.8 KB of text at 25,000 wide-spread requests, 7.8 KB at 100,000 (the histograms' tails fill
    # in); raw values, not carried past RAW_LIMIT, would have taken 18 bytes a request more.
    at_25k, at_100k = _text_for(wide_rows, 25_000), _text_for(wide_rows, 100_000)
    assert at_100k - at_25k < 75_000 * 0.1, (at_25k, at_100k)
    assert at_100k < 16 * 1024


def test_raw_values_at_the_limit_fit_a_configmap_with_their_histograms() -> None:
    result = run_of([level_from_rows(wide_rows(RAW_LIMIT, 2), load_mode="rate", slo=SLO)], SLO)
    text = encode_compact(result)
    assert len(text) < CONFIGMAP_BUDGET_BYTES, len(text)
    assert decode_shard_result(text).levels[0].exact


def test_64_levels_of_wide_spread_histograms_fit_a_configmap() -> None:
    rng = random.Random(3)
    level = level_from_rows(
        wide_rows(5000, 4),
        load_mode="rate",
        slo=SLO,
        itl_values=[rng.lognormvariate(-4, 2.0) for _ in range(5000)],
    )
    result = run_of([level.model_copy(update={"index": i}) for i in range(64)], SLO)
    text = encode_compact(result)
    assert len(text) < CONFIGMAP_BUDGET_BYTES, len(text)
    back = decode_shard_result(text)
    assert back.levels[-1].histograms == level.histograms
    assert not back.warnings  # nothing coarsened


def test_a_result_over_its_budget_is_coarsened_and_says_so() -> None:
    rng = random.Random(5)
    result = run_of([level_from_rows([], itl_values=[rng.lognormvariate(-4, 2.0) for _ in range(20_000)])])
    fine = len(encode_compact(result))
    text = encode_compact(result, budget=fine - 1)
    assert len(text) < fine
    back = decode_compact(text)
    itl = back.levels[0].itl
    assert itl.relative_error == pytest.approx(0.01, rel=1e-3)
    assert itl.count == result.levels[0].itl.count
    assert itl.sum_ns == result.levels[0].itl.sum_ns
    assert any("coarsened 1 time(s), to 1.00 %" in w for w in back.warnings)
    # And so is one over the bucket bound, whatever its text.
    bounded = decode_compact(encode_compact(result, max_buckets=500))
    assert result_buckets(bounded) <= 500


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
    bound = max_raw_bytes(RAW_LIMIT, MAX_RESULT_BUCKETS)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ValueError, match="zlib bomb"):
            decode_shard_result(text)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    # zlib's output buffer grows up to the bound (about 17 MiB), at worst twice over while it grows.
    assert peak < 2 * bound + 4 * len(text), f"{peak / 2**20:.0f} MiB"
    assert bound < 24 << 20


def test_more_requests_or_buckets_than_the_bound_are_refused_before_they_are_read() -> None:
    text = encode_compact(run_of([level_from_rows(mock_rows(1000, 1))]))
    with pytest.raises(ValueError, match="more than 999 requests"):
        decode_compact(text, max_requests=999)
    rng = random.Random(1)
    wide = encode_compact(
        run_of([level_from_rows([], itl_values=[rng.lognormvariate(-4, 2.0) for _ in range(5000)])])
    )
    with pytest.raises(ValueError, match="more than 100 histogram buckets"):
        decode_compact(wide, max_requests=0, max_buckets=100)


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


def _legacy(result: RunResult, tag: str, fields: tuple[str, ...]) -> str:
    """A result as the load generators before histograms wrote it: the ITL histogram in the meta, every
    raw array with its own length."""
    meta = result.model_dump(
        mode="json", exclude={"levels": {"__all__": {"raw", "histograms", "turn_ttft", "slo_tallies"}}}
    )
    for level, original in zip(meta["levels"], result.levels, strict=True):
        level["itl"] = original.itl.model_dump(mode="json")
    encoded = json.dumps(meta, separators=(",", ":")).encode()
    raw = bytearray()
    compact_module._put_varint(raw, len(encoded))
    raw += encoded
    for level in result.levels:
        for field in fields:
            values = getattr(level.raw, field)
            compact_module._put_varint(raw, len(values))
            for v in values:
                compact_module._put_varint(raw, v << 1)
    return tag + base64.b64encode(zlib.compress(bytes(raw))).decode("ascii")


def test_results_of_the_formats_before_histograms_read_with_their_histograms_built() -> None:
    rows = realistic_rows(300, 3)
    result = run_of(
        [level_from_rows(rows, itl_values=[0.01, 0.03], slo=SLO, turns=[i % 2 for i in range(300)])], SLO
    )
    assert decode_shard_result(_legacy(result, "lg2:", compact_module._RAW_FIELDS)) == result
    old = decode_shard_result(_legacy(result, "lg1:", compact_module._RAW_FIELDS[:5])).levels[0]
    assert old.raw.ttft_us == result.levels[0].raw.ttft_us
    assert old.raw.turn == [0] * 300
    assert old.histograms == result.levels[0].histograms
    assert old.slo_tallies == result.levels[0].slo_tallies


def _compact(raw: bytes) -> str:
    return FORMAT_TAG + base64.b64encode(zlib.compress(raw)).decode("ascii")


_LEVEL = json.dumps(
    run_of([level_from_rows([])]).model_dump(mode="json", exclude={"levels": {"__all__": {"raw"}}})["levels"][
        0
    ]
)


def _one_level(body: bytes) -> bytes:
    meta = ('{"model":"m","config":{},"levels":[' + _LEVEL + "]}").encode()
    return bytes([len(meta) & 0x7F | 0x80, len(meta) >> 7]) + meta + body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff" * 100_000, "longer than 64 bits"),  # would be quadratic to build
        (b"\x02[]", "corrupt: TypeError"),
        (b"\x02{}", "corrupt: KeyError"),
        (b"\x07" + b"[" * 7, "corrupt"),
        (_one_level(b"\x00" * 4), "corrupt: IndexError"),  # a histogram missing
        (_one_level(b"\x02\x02" + bytes(4) + (b"\x01" + bytes(7)) * 2 + bytes(5)), "keys repeat"),
        (_one_level(b"\x01\x02\x05" + bytes(7) + bytes(5)), "do not add up"),
        (_one_level(b"\x01\x02\x05"), "ends inside a histogram"),
        (_one_level(b"\x00" + b"\x00" * 6), "trailing bytes"),
    ],
)
def test_garbage_is_a_value_error_saying_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_shard_result(_compact(raw))


def test_any_damage_to_a_result_is_a_value_error_or_a_result() -> None:
    good = encode_compact(
        run_of([level_from_rows(realistic_rows(200, 4), itl_values=[0.01, 0.02], slo=SLO)], SLO)
    )
    rng = random.Random(9)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    started = time.perf_counter()
    for _ in range(300):
        chars = list(good)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(FORMAT_TAG), len(chars) - 2)] = rng.choice(alphabet)
        with contextlib.suppress(ValueError):  # anything else fails the test
            assert isinstance(decode_shard_result("".join(chars)), RunResult)
    assert time.perf_counter() - started < 10
