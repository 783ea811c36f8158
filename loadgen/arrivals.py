"""Open-loop arrival schedules: offsets in seconds from the level start (pure)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal


def arrival_offsets(
    kind: Literal["constant", "poisson"], rate: float, rng: random.Random, phase: float = 0.0
) -> Iterator[float]:
    """Endless, non-decreasing send times for `rate` requests per second.

    constant: phase, phase + 1/rate, phase + 2/rate, ...
    poisson: exponential gaps with mean 1/rate (a Poisson process), seeded by `rng`.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    if kind == "constant":
        gap = 1.0 / rate
        i = 0
        while True:
            yield phase + i * gap
            i += 1
    else:
        t = phase
        while True:
            t += rng.expovariate(rate)
            yield t


def constant_phase(shard_index: int, shard_count: int, total_rate: int) -> float:
    """Stagger constant-rate shards so that together they send evenly spaced requests.

    With equal shares, shard i starting at i / total_rate interleaves exactly.
    """
    if shard_count == 1 or total_rate <= 0:
        return 0.0
    return shard_index / total_rate
