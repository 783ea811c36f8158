"""The shape every check in this package reports."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that stops a LoadTest from running as written.

    `reason` is a CamelCase word fit for a condition's reason; `message` tells a person what to change;
    `field` is the path of the field at fault, as a user would write it in YAML.
    """

    reason: str
    message: str
    field: str


def summarize(problems: list[Problem]) -> tuple[str, str]:
    """Reason and message for one condition reporting all `problems` (the first problem's reason wins,
    every message is kept so the user can fix them in one go)."""
    if not problems:
        raise ValueError("no problems to summarize")
    message = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return problems[0].reason, message
