"""Run reports: findings drawn from a LoadTest's (or a CapacityRecommendation's) figures, each with the
numbers behind it, rendered as Markdown, HTML or JSON. Pure: no I/O (docs/dashboard.md)."""

from loadtest_operator.report.build import Report, ReportError, capacity_report, loadtest_report
from loadtest_operator.report.render import as_json, html, markdown, render
from loadtest_operator.report.rules import Figure, Finding, RunFigures, Severity, findings

__all__ = [
    "Figure",
    "Finding",
    "Report",
    "ReportError",
    "RunFigures",
    "Severity",
    "as_json",
    "capacity_report",
    "findings",
    "html",
    "loadtest_report",
    "markdown",
    "render",
]
