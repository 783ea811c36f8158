"""The one set of token-distribution rules (loadgen.distribution): each rule, and each message, in the
spelling of the schema that asks (loadgen's `normal`, the CRDs' `Normal`)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from loadgen.distribution import (
    DistributionCode,
    distribution_problems,
    shared_prefix_problems,
    shortest_length,
)


@dataclass(frozen=True)
class Tokens:
    distribution: str
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    stddev: float | None = None


C = DistributionCode

DISTRIBUTION_CASES: list[tuple[str, Tokens, list[tuple[DistributionCode, str]]]] = [
    ("fixed", Tokens("Fixed", mean=512), []),
    ("uniform", Tokens("Uniform", min=100, max=300), []),
    ("uniform of one length", Tokens("Uniform", min=100, max=100), []),
    ("normal", Tokens("Normal", mean=512, stddev=64), []),
    ("normal clipped", Tokens("Normal", mean=512, stddev=64, min=16, max=1024), []),
    ("normal at its bounds", Tokens("Normal", mean=16, stddev=64, min=16, max=16), []),
    (
        "fixed without mean",
        Tokens("Fixed"),
        [(C.PARAMETER_MISSING, "Fixed needs mean; set it, e.g. mean: 512")],
    ),
    (
        "uniform without bounds",
        Tokens("Uniform", min=9),
        [(C.PARAMETER_MISSING, "Uniform needs max; set it, e.g. min: 100, max: 300")],
    ),
    (
        "normal without anything",
        Tokens("normal"),
        [(C.PARAMETER_MISSING, "normal needs mean and stddev; set them, e.g. mean: 512, stddev: 64")],
    ),
    (
        "fixed with bounds",
        Tokens("Fixed", mean=10, min=50, max=60),
        [
            (
                C.PARAMETER_UNUSED,
                "Fixed does not use min or max; remove them, or set distribution to Uniform or Normal, "
                "which use them",
            )
        ],
    ),
    (
        "uniform with stddev",
        Tokens("uniform", min=5, max=9, stddev=3),
        [
            (
                C.PARAMETER_UNUSED,
                "uniform does not use stddev; remove it, or set distribution to normal, which uses it",
            )
        ],
    ),
    (
        "uniform with mean",
        Tokens("Uniform", mean=200, min=100, max=300),
        [
            (
                C.PARAMETER_UNUSED,
                "Uniform does not use mean; remove it, or set distribution to Fixed or Normal, which use it",
            )
        ],
    ),
    (
        "uniform bounds swapped",
        Tokens("Uniform", min=10, max=5),
        [(C.RANGE_INVALID, "min (10) is above max (5); swap them")],
    ),
    (
        "normal mean above max",
        Tokens("Normal", mean=2000, stddev=10, min=16, max=1024),
        [
            (
                C.RANGE_INVALID,
                "mean (2000) is above max (1024); the mean must lie within [min, max]: move mean or widen "
                "the bounds",
            )
        ],
    ),
    (
        "normal mean below min",
        Tokens("Normal", mean=8, stddev=10, min=16),
        [
            (
                C.RANGE_INVALID,
                "min (16) is above mean (8); the mean must lie within [min, max]: move mean or widen the "
                "bounds",
            )
        ],
    ),
    (
        "normal without spread",
        Tokens("Normal", mean=512, stddev=0),
        [
            (
                C.WITHOUT_SPREAD,
                "Normal needs stddev above 0; for one length for every request use distribution: Fixed "
                "with mean: 512",
            )
        ],
    ),
    (
        "loadgen's spelling",
        Tokens("normal", mean=512, stddev=0.0),
        [
            (
                C.WITHOUT_SPREAD,
                "normal needs stddev above 0; for one length for every request use distribution: fixed "
                "with mean: 512",
            )
        ],
    ),
    (
        "every problem at once",
        Tokens("Fixed", min=3, max=2, stddev=1),
        [
            (C.PARAMETER_MISSING, "Fixed needs mean; set it, e.g. mean: 512"),
            (
                C.PARAMETER_UNUSED,
                "Fixed does not use min, max or stddev; remove them, or set distribution to Normal, "
                "which uses them",
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("tokens", "expected"), [c[1:] for c in DISTRIBUTION_CASES], ids=[c[0] for c in DISTRIBUTION_CASES]
)
def test_distribution_rules(tokens: Tokens, expected: list[tuple[DistributionCode, str]]) -> None:
    assert [(p.code, p.message) for p in distribution_problems(tokens)] == expected


@pytest.mark.parametrize(
    ("tokens", "shortest"),
    [
        (Tokens("Fixed", mean=512), 512),
        (Tokens("Uniform", min=100, max=300), 100),
        (Tokens("Normal", mean=512, stddev=64, min=16), 16),
        (Tokens("Normal", mean=512, stddev=64), 1),  # a draw is clipped at 1 token
        (Tokens("Uniform", max=300), None),
    ],
)
def test_shortest_length(tokens: Tokens, shortest: float | None) -> None:
    assert shortest_length(tokens) == shortest


PREFIX_CASES: list[tuple[str, int, Tokens, list[str]]] = [
    ("no prefix", 0, Tokens("Normal", mean=512, stddev=64), []),
    ("prefix shorter than every prompt", 511, Tokens("Fixed", mean=512), []),
    ("prefix below a uniform's min", 99, Tokens("Uniform", min=100, max=300), []),
    ("parameters missing: the distribution's own problem", 50, Tokens("Uniform", max=300), []),
    (
        "prefix as long as the prompt",
        512,
        Tokens("Fixed", mean=512),
        [
            "the shared prefix (512 tokens) leaves no room for the unique part of every Fixed prompt "
            "(mean 512); raise mean above 512 or shorten the shared prefix below 512"
        ],
    ),
    (
        "prefix above a uniform's min",
        150,
        Tokens("uniform", min=100, max=300),
        [
            "the shared prefix (150 tokens) leaves no room for the unique part of the shortest uniform "
            "prompt (min 100); raise min above 150 or shorten the shared prefix below 100"
        ],
    ),
    (
        "normal without a lower bound",
        100,
        Tokens("Normal", mean=512, stddev=64),
        [
            "the shared prefix (100 tokens) leaves no room for the unique part of the shortest Normal "
            "prompt (a draw is clipped only at 1 token); set min above 100"
        ],
    ),
]


@pytest.mark.parametrize(
    ("prefix", "tokens", "messages"), [c[1:] for c in PREFIX_CASES], ids=[c[0] for c in PREFIX_CASES]
)
def test_shared_prefix_rule(prefix: int, tokens: Tokens, messages: list[str]) -> None:
    problems = shared_prefix_problems(prefix, tokens)
    assert [p.message for p in problems] == messages
    assert all(p.code is C.SHARED_PREFIX_TOO_LONG for p in problems)
