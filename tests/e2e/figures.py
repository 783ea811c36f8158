"""The figures the fault and fuzz suites measure, one row per case, printed as one table at the end of
the session (conftest.py's terminal summary): case, expected, observed, time to a condition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    case: str
    expected: str
    observed: str
    seconds: float | None  # time to the condition that settles the case


ROWS: list[Row] = []


def record(case: str, expected: str, observed: str, seconds: float | None = None) -> None:
    ROWS.append(Row(case, expected, observed, seconds))
    print(f"[figure] {case}: expected {expected}; observed {observed}; time {_time(seconds)}")


def table() -> list[str]:
    header = ("case", "expected", "observed", "time to condition")
    rows = [(r.case, r.expected, r.observed, _time(r.seconds)) for r in ROWS]
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(4)]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    out = [line.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return out + [line.format(*row) for row in rows]


def _time(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"
