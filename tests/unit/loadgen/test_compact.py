import random
import zlib

import pytest

from loadgen.compact import decode_compact, encode_compact

from .helpers import level_from_rows, run_of

CONFIGMAP_BUDGET = 900 * 1024


def realistic_rows(n: int, seed: int) -> list[tuple[int, int, int, int, int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ttft = int(rng.lognormvariate(11.5, 0.6))  # ~100 ms with a long tail
        out = rng.randint(100, 1000)
        e2e = ttft + int(out * rng.gauss(12_000, 2_000))
        rows.append((ttft, max(e2e, ttft), out, rng.randint(50, 4000), int(rng.expovariate(1 / 500))))
    return rows


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


def test_twenty_thousand_requests_fit_a_configmap() -> None:
    rows = realistic_rows(20_000, 2)
    itls = [random.Random(3).uniform(0.005, 0.05) for _ in range(5000)]
    result = run_of([level_from_rows(rows, itl_values=itls)])
    text = encode_compact(result)
    assert len(text) < CONFIGMAP_BUDGET, f"{len(text)} bytes"
    assert decode_compact(text).levels[0].raw == result.levels[0].raw


def test_foreign_or_corrupt_text_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a compact"):
        decode_compact('{"levels": []}')
    good = encode_compact(run_of([level_from_rows([(1, 2, 3, 4, 5)])]))
    with pytest.raises(zlib.error):
        decode_compact(good[:-8] + "AAAAAAAA")
