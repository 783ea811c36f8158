"""A report as Markdown, as one self-contained HTML page (inline style, no script, nothing fetched; every
value escaped), or as JSON for machines."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from loadtest_operator.report.build import LEVEL_COLUMNS, Report
from loadtest_operator.report.chart import svg
from loadtest_operator.report.rules import Finding, Severity

TRACE_COLUMNS = ("Level", "Goodput % (worst repeat)", "Verdict")


def _ordered(report: Report) -> list[Finding]:
    """Worst first; rules in their order within a severity."""
    return sorted(report.findings, key=lambda f: -f.severity.rank)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: Report) -> str:
    lines = [f"# Run report: {report.kind} {report.namespace}/{report.name}", ""]
    lines += [f"- **{label}**: {_md_cell(value)}" for label, value in report.facts]
    lines += ["", "## Findings", ""]
    for f in _ordered(report):
        lines += [f"### [{f.severity.value.upper()}] {_md_cell(f.title)}", "", f.detail, ""]
        if f.figures:
            lines += _md_table(("Figure", "Value"), tuple((x.label, x.text()) for x in f.figures))
            lines.append("")
    if report.not_judged:
        lines += [f"Not judged (no figures for them): {', '.join(report.not_judged)}.", ""]
    if report.notes:
        lines += ["## Notes", "", *(f"- {_md_cell(n)}" for n in report.notes), ""]
    if report.trace:
        lines += ["## Search trace", "", *_md_table(TRACE_COLUMNS, report.trace), ""]
    lines += ["## Levels", ""]
    lines += _md_table(LEVEL_COLUMNS, report.rows) if report.rows else ["(no per-level results yet)"]
    return "\n".join(lines) + "\n"


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;color:#1d1d1f;padding:0 1em}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.4em 0 1em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f5f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;min-width:5.5em;text-align:center;border-radius:3px;padding:0 .4em;margin-right:.5em;font-size:.8em;font-weight:600;color:#fff}
.ok{background:#2e7d32}.info{background:#1565c0}.warning{background:#ef6c00}.problem{background:#c62828}
dl{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}dt{font-weight:600}dd{margin:0}
"""


def _html_table(columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_finding(f: Finding) -> str:
    sev = f.severity.value
    figures = (
        _html_table(("Figure", "Value"), tuple((x.label, x.text()) for x in f.figures)) if f.figures else ""
    )
    return (
        f'<section class="finding" data-rule="{escape(f.rule)}" data-severity="{sev}">'
        f'<h3><span class="sev {sev}">{escape(sev.upper())}</span>{escape(f.title)}</h3>'
        f"<p>{escape(f.detail)}</p>{figures}</section>"
    )


def html(report: Report) -> str:
    title = f"Run report: {report.kind} {report.namespace}/{report.name}"
    facts = "".join(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in report.facts)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing on this page may load anything: no script, no remote style, font or image.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1><dl>{facts}</dl>",
        svg(report.curve, report.ttft_objective),
        "<h2>Findings</h2>",
        *(_html_finding(f) for f in _ordered(report)),
    ]
    if report.not_judged:
        parts.append(f"<p>Not judged (no figures for them): {escape(', '.join(report.not_judged))}.</p>")
    if report.notes:
        notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
        parts.append(f'<h2>Notes</h2><ul class="notes">{notes}</ul>')
    if report.trace:
        parts += ["<h2>Search trace</h2>", _html_table(TRACE_COLUMNS, report.trace)]
    parts.append("<h2>Levels</h2>")
    parts.append(
        _html_table(LEVEL_COLUMNS, report.rows) if report.rows else "<p>(no per-level results yet)</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def as_json(report: Report) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "namespace": report.namespace,
        "name": report.name,
        "worst": report.worst().value,
        "facts": dict(report.facts),
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity.value,
                "title": f.title,
                "detail": f.detail,
                "levels": list(f.levels),
                "figures": [{"label": x.label, "value": x.value, "unit": x.unit} for x in f.figures],
            }
            for f in _ordered(report)
        ],
        "notJudged": list(report.not_judged),
        "notes": list(report.notes),
        "levels": [dict(zip(LEVEL_COLUMNS, row, strict=True)) for row in report.rows],
        "searchTrace": [dict(zip(TRACE_COLUMNS, row, strict=True)) for row in report.trace],
    }


def render(report: Report, output: str) -> str:
    if output == "md":
        return markdown(report)
    if output == "html":
        return html(report)
    if output == "json":
        return json.dumps(as_json(report), indent=2) + "\n"
    raise ValueError(f"unknown output {output!r}: md, html or json")


__all__ = ["Severity", "as_json", "html", "markdown", "render"]
