"""The chart's Grafana boards as the tests see them: every query they hold, and Grafana's substitution of
template variables and macros, so a test can run each query against a real Prometheus or PostgreSQL.

Grafana formats a variable by the data source it goes to: for Prometheus a regex (values regex-escaped,
several joined as `(a|b)`), for SQL a list of quoted strings (`'a','b'`). The SQL macros are Grafana's
PostgreSQL ones: `$__timeFilter(col)` is `col BETWEEN '<from>' AND '<to>'`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

BOARDS_DIR = Path(__file__).resolve().parents[1] / "helm" / "llmload" / "dashboards"
PROMETHEUS = "prometheus"
POSTGRES = "grafana-postgresql-datasource"


@dataclass(frozen=True)
class Query:
    board: str
    where: str  # "panel 'Title' A", "variable namespace", "annotation Levels"
    datasource: str  # PROMETHEUS or POSTGRES
    text: str

    def __str__(self) -> str:
        return f"{self.board}: {self.where}"


def boards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON of every board the chart ships."""
    return {path.name: json.loads(path.read_text()) for path in sorted(BOARDS_DIR.glob("*.json"))}


def _ds_type(datasource: Any, variables: Mapping[str, str]) -> str | None:
    """The plugin type of a panel's, target's or variable's datasource (a variable reference resolved)."""
    if isinstance(datasource, dict):
        return datasource.get("type")
    if isinstance(datasource, str) and datasource.startswith("$"):
        return variables.get(datasource.strip("${}"))
    return None


def datasource_variables(board: Mapping[str, Any]) -> dict[str, str]:
    """Name -> plugin type of the board's datasource variables."""
    return {
        v["name"]: v["query"]
        for v in board.get("templating", {}).get("list", [])
        if v.get("type") == "datasource"
    }


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def queries(name: str, board: Mapping[str, Any]) -> list[Query]:
    """Every query of a board: panel targets, query variables and annotations."""
    ds_vars = datasource_variables(board)
    found: list[Query] = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            ds = _ds_type(target.get("datasource") or panel.get("datasource"), ds_vars)
            text = target.get("expr") if ds == PROMETHEUS else target.get("rawSql")
            if ds and text:
                found.append(Query(name, f"panel {panel['title']!r} {target['refId']}", ds, text))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            text = query if isinstance(query, str) else query.get("query") or query.get("rawSql")
            ds = _ds_type(variable.get("datasource"), ds_vars)
            if ds and text:
                found.append(Query(name, f"variable {variable['name']}", ds, text))
    for annotation in board.get("annotations", {}).get("list", []):
        if annotation.get("builtIn"):
            continue
        ds = _ds_type(annotation.get("datasource"), ds_vars)
        text = annotation.get("expr") if ds == PROMETHEUS else (annotation.get("target") or {}).get("rawSql")
        if ds and text:
            found.append(Query(name, f"annotation {annotation['name']}", ds, text))
    return found


def all_queries(datasource: str) -> list[Query]:
    return [q for name, board in boards().items() for q in queries(name, board) if q.datasource == datasource]


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_REGEX_SPECIALS = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _substitute(text: str, values: Mapping[str, Sequence[str]], render: Any) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {text!r}")
        return str(render(values[name]))

    return _VARIABLE.sub(one, text)


def promql(text: str, values: Mapping[str, Sequence[str]], rate_interval: str) -> str:
    """A board's PromQL with Grafana's variables filled in as Grafana would (regex-escaped values)."""
    text = text.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)

    def regex(vals: Sequence[str]) -> str:
        escaped = [_REGEX_SPECIALS.sub(r"\\\\\1", v) for v in vals]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    return _substitute(text, values, regex)


_TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")


def sql(text: str, values: Mapping[str, Sequence[str]], start: datetime, end: datetime) -> str:
    """A board's SQL with Grafana's PostgreSQL macros and variables filled in."""
    text = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", text
    )
    text = text.replace("$__timeFrom()", f"'{start.isoformat()}'").replace(
        "$__timeTo()", f"'{end.isoformat()}'"
    )
    return _substitute(text, values, lambda vals: ",".join("'" + v.replace("'", "''") + "'" for v in vals))


_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$", re.S)


def label_values(text: str) -> tuple[str | None, str] | None:
    """`label_values(selector, label)` -> (selector, label); None for another kind of query."""
    match = _LABEL_VALUES.match(text.strip())
    return None if match is None else (match.group(1), match.group(2))
