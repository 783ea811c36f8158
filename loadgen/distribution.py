"""The rules of a token-length distribution, in one place.

loadgen's run config (`InputTokens`, `Workload`), the LoadTest validation and the CapacityRecommendation
validation all ask these functions, so a spec the operator accepts is a spec loadgen accepts. Pure: no
pydantic, no operator imports.

The parameter names (mean, min, max, stddev) are the same in loadgen's config and in the CRDs; the
distribution's name comes in the caller's spelling (`normal` in a run config, `Normal` in a LoadTest) and
the messages use it as given, so each reads in the words its user wrote.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol


class DistributionCode(StrEnum):
    """What is wrong, as a CamelCase word (the operator reports it as a condition reason)."""

    PARAMETER_MISSING = "DistributionParameterMissing"
    PARAMETER_UNUSED = "DistributionParameterUnused"
    RANGE_INVALID = "DistributionRangeInvalid"
    WITHOUT_SPREAD = "DistributionWithoutSpread"
    SHARED_PREFIX_TOO_LONG = "SharedPrefixTooLong"


class DistributionProblem(NamedTuple):
    code: DistributionCode
    message: str


class TokenLengths(Protocol):
    """What both schemas' distributions look like: loadgen's `InputTokens` and the CRDs' `TokenDistribution`."""

    @property
    def distribution(self) -> str: ...
    @property
    def mean(self) -> float | None: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def stddev(self) -> float | None: ...


@dataclass(frozen=True)
class _Shape:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    example: str


_SHAPES = {
    "fixed": _Shape(required=("mean",), optional=(), example="mean: 512"),
    "uniform": _Shape(required=("min", "max"), optional=(), example="min: 100, max: 300"),
    # A normal draw is clipped to [min, max] when they are set (and to at least 1 token in any case).
    "normal": _Shape(required=("mean", "stddev"), optional=("min", "max"), example="mean: 512, stddev: 64"),
}
PARAMETERS = ("mean", "min", "max", "stddev")


def _values(tokens: TokenLengths) -> dict[str, float | None]:
    return {name: getattr(tokens, name) for name in PARAMETERS}


def _spelled_like(word: str, like: str) -> str:
    """`word` in the capitalisation of `like` (Fixed next to Normal, fixed next to normal)."""
    return word.capitalize() if like[:1].isupper() else word


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _listed(names: list[str], word: str) -> str:
    """a; a and b; a, b and c (or "or")."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _them(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"


def _alternatives(name: str, parameters: list[str]) -> str:
    """ ", or set distribution to X, which uses them" for the distributions that use all `parameters`."""
    users = [
        _spelled_like(kind, name)
        for kind, shape in _SHAPES.items()
        if all(p in shape.required + shape.optional for p in parameters)
    ]
    if not users:
        return ""
    verb = "uses" if len(users) == 1 else "use"
    return f", or set distribution to {_listed(users, 'or')}, which {verb} {_them(parameters)}"


def distribution_problems(tokens: TokenLengths) -> list[DistributionProblem]:
    """Every problem with one distribution; an empty list means it can be sampled as written.

    Fixed uses mean; Uniform uses min and max; Normal uses mean and stddev (above 0), clipped to
    [min, max] when those are set. A parameter the distribution does not use is a mistake (the user
    expects it to matter), and min <= mean <= max wherever the distribution uses them.
    """
    name = str(tokens.distribution)
    shape = _SHAPES[name.lower()]
    values = _values(tokens)
    problems: list[DistributionProblem] = []
    missing = [p for p in shape.required if values[p] is None]
    if missing:
        problems.append(
            DistributionProblem(
                DistributionCode.PARAMETER_MISSING,
                f"{name} needs {_listed(missing, 'and')}; set {_them(missing)}, e.g. {shape.example}",
            )
        )
    used = shape.required + shape.optional
    unused = [p for p in PARAMETERS if values[p] is not None and p not in used]
    if unused:
        problems.append(
            DistributionProblem(
                DistributionCode.PARAMETER_UNUSED,
                f"{name} does not use {_listed(unused, 'or')}; remove {_them(unused)}"
                + _alternatives(name, unused),
            )
        )
    ordered = [(p, v) for p in ("min", "mean", "max") if p in used and (v := values[p]) is not None]
    for (low_name, low), (high_name, high) in itertools.pairwise(ordered):
        if low > high:
            fix = (
                "swap them"
                if (low_name, high_name) == ("min", "max")
                else "the mean must lie within [min, max]: move mean or widen the bounds"
            )
            problems.append(
                DistributionProblem(
                    DistributionCode.RANGE_INVALID,
                    f"{low_name} ({_number(low)}) is above {high_name} ({_number(high)}); {fix}",
                )
            )
    stddev = values["stddev"]
    if "stddev" in shape.required and stddev is not None and stddev <= 0:
        mean = values["mean"]
        fixed = _spelled_like("fixed", name)
        problems.append(
            DistributionProblem(
                DistributionCode.WITHOUT_SPREAD,
                f"{name} needs stddev above 0; for one length for every request use distribution: {fixed}"
                + (f" with mean: {_number(mean)}" if mean is not None else ""),
            )
        )
    return problems


def shortest_length(tokens: TokenLengths) -> float | None:
    """The fewest tokens a draw can have (None when the distribution lacks the parameter that says)."""
    values = _values(tokens)
    kind = str(tokens.distribution).lower()
    if kind == "fixed":
        return values["mean"]
    if kind == "uniform":
        return values["min"]
    low = values["min"]
    return 1 if low is None else low


def shared_prefix_problems(shared_prefix_tokens: int, tokens: TokenLengths) -> list[DistributionProblem]:
    """The shared prefix must be shorter than every synthetic prompt: each prompt is the prefix, then a
    unique part (so the server cannot serve it from its prefix cache); a prompt drawn no longer than the
    prefix would silently come out longer than drawn."""
    shortest = shortest_length(tokens)
    if shared_prefix_tokens == 0 or shortest is None or shared_prefix_tokens < shortest:
        return []
    name = str(tokens.distribution)
    above = f"above {shared_prefix_tokens}"
    shorter = (
        f"or shorten the shared prefix below {_number(shortest)}"
        if shortest > 1
        else "or remove the shared prefix"
    )
    if name.lower() == "fixed":
        where, fix = f"every {name} prompt (mean {_number(shortest)})", f"raise mean {above} {shorter}"
    elif tokens.min is None:
        where, fix = f"the shortest {name} prompt (a draw is clipped only at 1 token)", f"set min {above}"
    else:
        where, fix = f"the shortest {name} prompt (min {_number(shortest)})", f"raise min {above} {shorter}"
    return [
        DistributionProblem(
            DistributionCode.SHARED_PREFIX_TOO_LONG,
            f"the shared prefix ({shared_prefix_tokens} tokens) leaves no room for the unique part of "
            f"{where}; {fix}",
        )
    ]
