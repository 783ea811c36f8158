"""A run, or a comparison, as a table: CSV (the csv module), XLSX (XlsxWriter) or JSON. Every figure's
unit is in its column name (ttft_p90_ms, output_tokens_per_s, joules_per_1k_output_tokens); times are
RFC 3339 in UTC. Pure: tables in, bytes out.

Names, labels, models, targets and reasons are the users' words, and a spreadsheet takes a cell that
starts with = + - @, a tab or a carriage return for a formula (CSV injection, OWASP): in CSV such a text
cell is written with a leading ' (the spreadsheet shows the text, never runs it); in XLSX every text
cell is written as a string cell, never a formula. Numbers stay numbers in both."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import xlsxwriter

from loadtest_operator.results.compare import Comparison
from loadtest_operator.results.figures import METRICS, level_figures

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
RUN_COLUMNS = (
    "namespace",
    "name",
    "loadtest_uid",
    "run_id",
    "model",
    "target",
    "mode",
    "status",
    "started_at",
    "finished_at",
    "labels",
)
LEVEL_COLUMNS = ("level", "requests", "successes", "errors", "latency_from", "within_slo", "client_saturated")
COMPARISON_COLUMNS = (
    "level", "metric", "unit", "better", "baseline_run", "baseline_value", "run", "value",
    "change_absolute", "change_percent", "test", "p_value", "verdict", "basis",
)  # fmt: skip
Cell = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Table:
    title: str  # the XLSX sheet's name
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def run_table(run: Mapping[str, Any], levels: Sequence[Mapping[str, Any]], gpus: int | None = None) -> Table:
    """One row per level: the run's identity, the level's counts, then every figure of figures.METRICS."""
    identity = tuple(_labels(run.get(c)) if c == "labels" else _cell(run.get(c)) for c in RUN_COLUMNS)
    rows = []
    for level in levels:
        figures = level_figures(level, gpus)
        rows.append(
            identity
            + tuple(_cell(level.get(c)) for c in LEVEL_COLUMNS)
            + tuple(figures[m.key] for m in METRICS)
        )
    return Table("levels", (*RUN_COLUMNS, *LEVEL_COLUMNS, *(m.key for m in METRICS)), rows)


def comparison_table(comparison: Comparison) -> Table:
    """One row per level, figure and compared run (the baseline's value on each)."""
    rows: list[tuple[Cell, ...]] = []
    for lv in comparison.levels:
        for row in lv.rows:
            for c in row.changes:
                rows.append(
                    (
                        lv.level, row.metric.key, row.metric.unit, row.metric.better.value, comparison.baseline,
                        row.baseline, c.run, c.value, c.absolute, c.percent, c.test, c.p_value, c.verdict, c.basis,
                    )
                )  # fmt: skip
    return Table("comparison", COMPARISON_COLUMNS, rows)


def _labels(value: Any) -> str:
    """A label set as kubectl writes a selector: key=value,key=value (sorted)."""
    return ",".join(f"{k}={v}" for k, v in sorted((value or {}).items()))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Cell) -> Cell:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows(["" if v is None else inert(v) for v in row] for row in table.rows)
    return out.getvalue().encode()


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table; header row bold and frozen, empty cells for missing figures."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    bold = workbook.add_format({"bold": True})
    for table in tables:
        sheet = workbook.add_worksheet(table.title[:31])
        sheet.write_row(0, 0, table.headers, bold)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(table.rows, start=1):
            for c, value in enumerate(row):
                if isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif value is not None:
                    sheet.write_string(r, c, value)
        for c, header in enumerate(table.headers):
            sheet.set_column(c, c, max(10, min(len(header) + 2, 40)))
    workbook.close()
    return out.getvalue()
