"""Reports of stored runs: the same findings as the live object's, and what the store does not hold said
in the notes (tests/unit/report/stored_fixtures.py builds the stored form from the recorded objects)."""

from __future__ import annotations

import dataclasses
import json

from loadtest_operator.report import capacity_report, loadtest_report, render
from loadtest_operator.report.stored import stored_capacity_report, stored_loadtest_report
from tests.unit.report.stored_fixtures import (
    as_stored,
    as_stored_recommendation,
    capacity,
    load,
)

RECORDED = ("loadtest-batching-mock.json", "loadtest-rate-saturated.json")


def test_a_stored_run_has_the_live_objects_findings_levels_and_facts() -> None:
    for name in RECORDED:
        body = load(name)
        live, stored = loadtest_report(body), stored_loadtest_report(as_stored(body))
        assert stored.findings == live.findings, name
        assert stored.not_judged == live.not_judged
        assert stored.rows == live.rows
        assert stored.facts[: len(live.facts)] == live.facts
        assert stored.facts[-1] == (
            "source",
            "the results store (runId 0, last written 2026-12-01T10:00:00+00:00)",
        )
        assert stored.notes == ()


def test_a_running_run_has_no_stored_levels_and_says_so() -> None:
    run = dataclasses.replace(as_stored(load(RECORDED[0])), outcome="Running", levels=())
    report = stored_loadtest_report(run)
    assert report.rows == ()
    assert report.notes == (
        "No levels are stored yet: the operator stores a run's levels when the run ends "
        "(`llmload report NAME` reads the live LoadTest).",
    )
    assert "## Notes" in render(report, "md")


def test_a_row_without_its_summary_says_what_is_unknown() -> None:
    run = dataclasses.replace(as_stored(load(RECORDED[0])), summary=None)
    report = stored_loadtest_report(run)
    assert dict(report.facts)["phase"] == "Succeeded"  # the stored outcome
    assert dict(report.facts)["target"] == "?"
    assert any("status summary is not in the store" in n for n in report.notes)
    assert report.findings == loadtest_report(load(RECORDED[0])).findings  # the levels are all the rules read


def test_a_stored_recommendation_rebuilds_the_search_trace_the_operator_wrote() -> None:
    body, children = capacity()
    rec = as_stored_recommendation(body, children)
    runs = {(c["metadata"]["uid"], 0): as_stored(c) for c in children}
    stored, live = stored_capacity_report(rec, runs), capacity_report(body, children)
    assert (
        stored.trace
        == live.trace
        == (("2", "93.3", "within"), ("4", "93.3", "within"), ("8", "13.3", "missed"))
    )
    assert stored.findings == live.findings
    assert stored.rows == live.rows
    facts = dict(stored.facts)
    assert facts["workload"] == "Concurrency, peak 40"
    assert facts["Ready reason"] == "Recommended"
    assert stored.notes[0].startswith("The search trace is rebuilt from the stored child runs")


def test_a_stored_recommendation_without_some_child_runs_names_them() -> None:
    body, children = capacity()
    rec = as_stored_recommendation(body, children)
    kept = {(c["metadata"]["uid"], 0): as_stored(c) for c in children[:2]}
    report = stored_capacity_report(rec, kept)
    missing = children[2]["metadata"]["name"]
    assert f"1 child run(s) not in the store, left out: {missing}." in report.notes
    assert report.trace == (("2", "93.3", "within"), ("4", "93.3", "within"), ("8", "-", "measuring"))
    assert dict(report.facts)["child LoadTests"] == "2 read of 3"
    assert json.loads(render(report, "json"))["notes"] == list(report.notes)
