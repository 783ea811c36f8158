"""The report routes of the results service on SQLite and PostgreSQL: a stored run's and a stored
recommendation's report as Markdown, HTML and JSON, with the findings of the live object, behind the same
rights as every route."""

from __future__ import annotations

import json

import pytest

from loadtest_operator.report import capacity_report, loadtest_report, render
from tests.integration.report.conftest import NAMESPACE, store_capacity, store_loadtest
from tests.integration.results.conftest import Harness
from tests.unit.report.stored_fixtures import capacity, load

pytestmark = pytest.mark.integration

RUN = f"/api/v1/namespaces/{NAMESPACE}/runs/dash/report"
REC = f"/api/v1/namespaces/{NAMESPACE}/recommendations/sizing/report"


@pytest.fixture
def stored(harness: Harness) -> Harness:
    store_loadtest(harness.engine, load("loadtest-batching-mock.json"))
    store_capacity(harness.engine)
    return harness


def test_a_stored_runs_report_has_the_live_objects_findings(stored: Harness) -> None:
    body = stored.ok(RUN, "token-alice", format="json")
    live = render(loadtest_report(load("loadtest-batching-mock.json")), "json")
    expected = json.loads(live)
    assert body["findings"] == expected["findings"]
    assert body["levels"] == expected["levels"]
    assert body["notJudged"] == expected["notJudged"]
    assert body["worst"] == "warning"
    assert body["namespace"] == NAMESPACE
    assert body["facts"]["source"].startswith("the results store (runId 0, last written ")
    assert body["notes"] == []


def test_markdown_and_html_with_their_media_types(stored: Harness) -> None:
    md = stored.get(RUN, "token-alice", format="markdown")
    assert md.status_code == 200
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.text.startswith(f"# Run report: LoadTest {NAMESPACE}/dash\n")
    assert "The knee is at level 4; level 8 was the first to miss the SLO" in md.text
    assert stored.get(RUN, "token-alice").text == md.text  # markdown by default
    page = stored.get(RUN, "token-alice", format="html")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert "<svg" in page.text
    assert "<script" not in page.text
    bad = stored.get(RUN, "token-alice", format="pdf")
    assert bad.status_code == 400
    assert "use markdown, html or json" in bad.json()["detail"]


def test_the_report_needs_read_on_the_namespace(stored: Harness) -> None:
    assert stored.get(RUN, token=None).status_code == 401
    denied = stored.get(RUN, "token-bob")
    assert denied.status_code == 403
    assert "bob may not" in denied.json()["detail"]
    assert stored.get(REC, "token-bob").status_code == 403
    missing = stored.get(f"/api/v1/namespaces/{NAMESPACE}/runs/nothing/report", "token-alice")
    assert missing.status_code == 404
    assert "no stored run of LoadTest" in missing.json()["detail"]
    assert stored.get(RUN, "token-alice", runId=7).status_code == 404
    assert (
        stored.get(f"/api/v1/namespaces/{NAMESPACE}/recommendations/none/report", "token-alice").status_code
        == 404
    )


def test_a_stored_recommendations_report_rebuilds_its_search(stored: Harness) -> None:
    body = stored.ok(REC, "token-alice", format="json")
    rec, children = capacity()
    expected = capacity_report(rec, children)
    assert [f["rule"] for f in body["findings"]] == [
        f.rule for f in sorted(expected.findings, key=lambda f: -f.severity.rank)
    ]
    assert body["searchTrace"] == [
        {"Level": "2", "Goodput % (worst repeat)": "93.3", "Verdict": "within"},
        {"Level": "4", "Goodput % (worst repeat)": "93.3", "Verdict": "within"},
        {"Level": "8", "Goodput % (worst repeat)": "13.3", "Verdict": "missed"},
    ]
    capacity_finding = next(f for f in body["findings"] if f["rule"] == "capacity")
    assert capacity_finding["title"] == "Knee at level 4: 12 replica(s), 12 GPU(s) for the peak"
    assert body["facts"]["child LoadTests"] == "3 read of 3"
    assert body["notes"][0].startswith("The search trace is rebuilt from the stored child runs")
    assert "<h2>Search trace</h2>" in stored.get(REC, "token-alice", format="html").text
