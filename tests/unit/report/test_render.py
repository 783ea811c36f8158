"""The report of the recorded run as Markdown, HTML (escaped, self-contained) and JSON; `llmload report`
reading a file, a LoadTest by name and a CapacityRecommendation with its children."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from loadtest_operator import cli
from loadtest_operator.report import Severity, capacity_report, html, loadtest_report, markdown, render
from loadtest_operator.report.build import LEVEL_COLUMNS
from tests.unit.report.test_findings import FIXTURES, recorded

RECORDED = FIXTURES / "loadtest-batching-mock.json"


def test_markdown_puts_the_worst_findings_first_and_every_level_in_the_table() -> None:
    report = loadtest_report(recorded())
    text = markdown(report)
    severities = re.findall(r"^### \[(\w+)\]", text, re.M)
    ranks = [Severity(s.lower()).rank for s in severities]
    assert ranks == sorted(ranks, reverse=True)
    assert len(severities) == len(report.findings) == 10
    assert "| 8 | 133 | 5 | 15.47 |" in text
    assert text.count("\n| ") >= 4 + 1  # header and one row per level
    assert "- **SLO**: ttft <= 150 ms, tpot <= 100 ms at p90" in text


def test_html_is_one_escaped_self_contained_page() -> None:
    body = recorded()
    body["metadata"]["name"] = "<script>alert(1)</script>"
    body["status"]["summary"] = 'levels & "quotes" <b>bold</b>'
    page = html(loadtest_report(body))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "levels &amp; &quot;quotes&quot; &lt;b&gt;bold&lt;/b&gt;" in page
    # Nothing is fetched: no script, stylesheet link, image or URL of any kind.
    for needle in ("<link", "<img", "src=", "http://", "https://", "@import", "url("):
        assert needle not in page, needle
    assert page.count('<section class="finding"') == 10
    assert '<section class="finding" data-rule="knee" data-severity="info">' in page


def test_json_holds_every_finding_with_its_figures() -> None:
    data = json.loads(render(loadtest_report(recorded()), "json"))
    assert data["worst"] == "warning"
    rules = [f["rule"] for f in data["findings"]]
    assert sorted(rules) == sorted(
        ["knee", "latency_growth", "client_saturation", "shard_alignment", "server_agreement", "queueing",
         "kv_cache", "preemptions", "energy", "errors"]
    )  # fmt: skip
    knee = next(f for f in data["findings"] if f["rule"] == "knee")
    assert knee["levels"] == [4, 8]
    assert {"label": "TTFT p90 at level 8 (objective 150 ms)", "value": 282.186, "unit": "ms"} in knee[
        "figures"
    ]
    assert [lv["Level"] for lv in data["levels"]] == ["2", "4", "8", "16"]
    assert set(data["levels"][0]) == set(LEVEL_COLUMNS)


def test_llmload_report_reads_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "-f", str(RECORDED), "-o", "md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Run report: LoadTest ")
    assert "The knee is at level 4" in out


def _args(**kw: Any) -> argparse.Namespace:
    return argparse.Namespace(
        **(
            {
                "name": None,
                "namespace": "default",
                "file": None,
                "kind": None,
                "output": "md",
                "stored": False,
                "narrative": False,
                "run_id": None,
            }
            | kw
        )
    )


def test_llmload_report_reads_the_live_loadtest_by_name() -> None:
    from loadtest_operator.report_cli import run

    asked: list[tuple[str, str]] = []

    def fetch(name: str, namespace: str) -> dict[str, Any]:
        asked.append((name, namespace))
        return recorded()

    out = run(
        _args(name="dash", namespace="team", output="json"),
        fetch_loadtest=fetch,
        fetch_capacity=fetch,
        fetch_children=lambda names, ns: ([], {}),
    )
    assert asked == [("dash", "team")]
    assert json.loads(out)["kind"] == "LoadTest"


def test_a_malformed_status_is_refused_with_what_is_wrong() -> None:
    from loadtest_operator.report_cli import run

    body = recorded()
    body["status"]["levels"] = "not a list"
    with pytest.raises(
        SystemExit, match=r"llmload report: the LoadTest's status is not one the operator wrote"
    ):
        run(_args(name="x"), lambda n, ns: body, lambda n, ns: body, lambda names, ns: ([], {}))


def capacity_body() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The CapacityRecommendation recorded from the e2e board test (Levels 2, 4, 8 against the batching mock,
    at most 4 running: the knee is 4) and its three child LoadTests."""
    body: dict[str, Any] = json.loads((FIXTURES / "capacityrecommendation-levels.json").read_text())
    children = {
        name: json.loads((FIXTURES / f"capacityrecommendation-child-{name}.json").read_text())
        for name in body["status"]["children"]
    }
    return body, children


def test_a_capacity_report_shows_the_knee_the_formula_and_the_childrens_findings() -> None:
    body, children = capacity_body()
    report = capacity_report(body, list(children.values()))
    capacity = next(f for f in report.findings if f.rule == "capacity")
    assert capacity.title == "Knee at level 4: 12 replica(s), 12 GPU(s) for the peak"
    assert capacity.severity is Severity.INFO
    formula = next(f.value for f in capacity.figures if f.label == "formula")
    assert (
        "replicas = ceil(peak \u00d7 (1 + headroomPercent/100) / capacityPerReplica) = ceil(40 \u00d7 1.20 / 4) = 12"
        in str(formula)
    )
    assert capacity.levels == (4, 8)
    assert report.trace == (("2", "93.3", "within"), ("4", "93.3", "within"), ("8", "13.3", "missed"))
    # The children's levels judged as one run: the same knee from their own SLO verdicts.
    knee = next(f for f in report.findings if f.rule == "knee")
    assert knee.levels == (4, 8)
    assert {f.rule for f in report.findings} >= {"queueing", "energy", "server_agreement"}
    assert len(report.rows) == 3


def test_llmload_report_reads_a_capacity_recommendation_and_its_children(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from loadtest_operator.report_cli import run

    body, children = capacity_body()
    missing = sorted(children)[0]

    def read(names: list[str], namespace: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
        assert namespace == body["metadata"]["namespace"]
        return [children[n] for n in names if n != missing], {missing: "HTTP 404 not found"}

    out = run(
        _args(name="sizing", kind="caprec", output="html"),
        fetch_loadtest=lambda n, ns: {},
        fetch_capacity=lambda n, ns: body,
        fetch_children=read,
    )
    assert "Knee at level 4" in out
    assert "<h2>Search trace</h2>" in out
    assert f"child LoadTest {missing} not read (HTTP 404 not found)" in capsys.readouterr().err


def test_markdown_table_cells_cannot_break_the_table() -> None:
    body = recorded()
    body["status"]["target"]["display"] = "a|b\nc"
    assert "- **target**: a\\|b c" in markdown(loadtest_report(body))


def test_the_recorded_fixture_is_unchanged_by_reporting() -> None:
    before = Path(RECORDED).read_text()
    render(loadtest_report(recorded()), "html")
    assert Path(RECORDED).read_text() == before


def test_the_html_draws_latency_against_throughput_with_the_slo_line() -> None:
    from loadtest_operator.report.chart import BOTTOM, HEIGHT, TOP

    page = html(loadtest_report(recorded()))
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count("<circle") == 8  # TTFT and E2E p90 at 4 levels
    assert svg.count('fill="#fff"') == 4  # hollow: levels 8 and 16 missed the SLO, both series
    assert "TTFT p90 at level 8: 282.2 ms, 15.47 req/s" in svg
    # The y axis ends at 2000 ms (1, 2 or 5 times a power of ten above the highest p90, E2E's 1032 ms): the
    # 150 ms objective sits 150/2000 of the plot's height above its bottom.
    line = re.search(r'<line class="slo"[^>]* y1="([\d.]+)"', svg)
    assert line is not None
    plot_h = HEIGHT - TOP - BOTTOM
    assert float(line.group(1)) == pytest.approx(TOP + plot_h * (1 - 150 / 2000), abs=0.1)
    one_level = recorded()
    one_level["status"]["levels"] = one_level["status"]["levels"][:1]
    assert "<svg" not in html(loadtest_report(one_level))
