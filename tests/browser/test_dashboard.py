"""The dashboard's pages in headless Chromium: they render without console errors, the charts hold the
series and points of the recorded runs, filters, pagination and the compare page work, a token the API
server refuses gets the login message and a missing right the permission message, and a running
LoadTest's page follows its status live."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtest_operator import cli
from tests.browser import recorded
from tests.browser.conftest import OTHER, TEAM, Dashboard

pytestmark = pytest.mark.integration
README_IMAGE = Path(__file__).parents[2] / "docs" / "images" / "dashboard-run.png"


def points(chart: dict[str, Any], label: str) -> list[list[float]]:
    series: dict[str, list[list[float]]] = {s["label"]: s["points"] for s in chart["series"]}
    assert label in series, f"no series {label!r} in {chart['title']!r}: {list(series)}"
    return series[label]


def test_run_page_draws_the_recorded_run(dashboard: Dashboard) -> None:
    page = dashboard.open(f"run.html?ref={dashboard.refs['batching']}")
    assert page.get_attribute("body", "data-state") == "ok"
    levels = recorded.recorded(recorded.BATCHING)["status"]["levels"]
    charts = dashboard.charts(page)
    curve = charts["latency-throughput"]
    assert points(curve, "TTFT p90") == [[lv["requestsPerSecond"], lv["ttft"]["p90"]] for lv in levels]
    assert points(curve, "E2E p90") == [[lv["requestsPerSecond"], lv["e2e"]["p90"]] for lv in levels]
    assert curve["lines"] == [{"label": "SLO TTFT p90 ≤ 150 ms", "y": 150}]
    assert points(charts["goodput-load"], "goodput/s") == [
        [lv["level"], lv["goodput"]["perSecond"]] for lv in levels
    ]
    for family in ("ttft", "tpot", "itl", "e2e"):
        chart = charts[f"percentiles-{family}"]
        assert [s["label"].split()[-1] for s in chart["series"]] == ["p50", "p90", "p99"]
        assert [p[0] for p in chart["series"][1]["points"]] == [2, 4, 8, 16]
    assert charts["percentiles-tpot"]["lines"] == [{"label": "SLO TPOT p90 ≤ 100 ms", "y": 100}]
    gpu = [[lv["level"], lv["gpu"]["utilizationPercentMean"]] for lv in levels]
    assert points(charts["gpu-utilization"], "utilisation mean") == gpu
    assert points(charts["gpu-power"], "power") == [
        [lv["level"], lv["gpu"]["powerWattsTotalMean"]] for lv in levels
    ]
    assert points(charts["gpu-energy"], "energy of the level") == [
        [lv["level"], lv["gpu"]["energyJoules"]] for lv in levels
    ]
    assert points(charts["vllm-queue"], "waiting") == [
        [lv["level"], lv["server"]["requestsWaitingMean"]] for lv in levels
    ]
    assert points(charts["vllm-kv-cache"], "max (any pod)") == [
        [lv["level"], lv["server"]["kvCacheUsagePercentMax"]] for lv in levels
    ]
    # Each chart is a drawn canvas, not only data.
    assert page.locator("figure.chart canvas").count() == sum(not c["absent"] for c in charts.values())
    # The flags and the fingerprint, as recorded.
    overlaps = page.locator("#flags tbody tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.overlap))"
    )
    assert overlaps == [lv["shardOverlap"] for lv in levels]
    assert page.locator("#flags tbody tr[data-saturated=true]").count() == sum(
        lv["clientSaturated"] for lv in levels
    )
    assert "0.0.0+mock" in page.locator("#fingerprint").inner_text()
    assert page.locator("#levels tbody tr").count() == len(levels)
    dashboard.screenshot(page, "run")
    shot = dashboard.screenshot(page, "run-top", height=1240)  # the facts and the curves
    # The README's picture is this test's: LLMLOAD_README_SCREENSHOT=1 puts it there (not on every run,
    # which would leave the work tree changed).
    if os.environ.get("LLMLOAD_README_SCREENSHOT") == "1":
        shutil.copyfile(shot, README_IMAGE)
    assert README_IMAGE.exists()


def test_absent_figures_are_said_not_drawn(dashboard: Dashboard) -> None:
    page = dashboard.open(f"run.html?ref={dashboard.refs['bare']}")
    charts = dashboard.charts(page)
    for chart in ("gpu-utilization", "gpu-power", "gpu-energy", "vllm-queue", "vllm-kv-cache"):
        assert charts[chart]["absent"] is True, chart
        assert charts[chart]["series"] == []
        assert page.locator(f"#chart-{chart} canvas").count() == 0
        assert page.locator(f"#chart-{chart} .absent").inner_text().startswith("No ")
    assert charts["latency-throughput"]["absent"] is False
    assert "no target fingerprint" in page.locator("#fingerprint").inner_text()
    assert page.locator("#run-facts").inner_text().count("not recorded") >= 1


def test_runs_list_filters_and_pages(dashboard: Dashboard) -> None:
    page = dashboard.open("index.html")
    listed = page.locator("#runs tbody a").all_inner_texts()
    # The viewer may read team-a only: the rate run of team-b is not listed.
    assert dashboard.refs["rate"] not in listed
    assert {dashboard.refs[k] for k in ("batching", "slower", "bare", "live")} <= set(listed)
    assert all(r.startswith(f"{TEAM}/") for r in listed)
    page.fill("input[name=name]", "batching-slower")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**name=batching-slower**")
    page.wait_for_selector("body[data-state=ok]")
    assert page.locator("#runs tbody a").all_inner_texts() == [dashboard.refs["slower"]]
    page.select_option("select[name=outcome]", "Failed")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**outcome=Failed**")
    page.wait_for_selector("#runs-empty")
    page.goto(f"{dashboard.url}/dashboard/index.html?outcome=Running")
    page.wait_for_selector("body[data-state=ok]")
    assert page.locator("#runs tbody a").all_inner_texts() == [dashboard.refs["live"]]
    # Pages of two runs each, by the Next page links, walk the whole list once.
    page.goto(f"{dashboard.url}/dashboard/index.html?limit=2")
    walked: list[str] = []
    for _ in range(len(listed)):
        page.wait_for_selector("body[data-state=ok]")
        walked += page.locator("#runs tbody a").all_inner_texts()
        if page.locator("#next-page").count() == 0:
            break
        page.click("#next-page")
        page.wait_for_url("**continue=**")
    assert walked == listed
    assert page.locator("#first-page").count() == 1


def test_compare_overlays_runs_with_the_deltas(dashboard: Dashboard) -> None:
    page = dashboard.open("index.html")
    for ref in (dashboard.refs["batching"], dashboard.refs["slower"]):
        page.check(f"input[type=checkbox][value='{ref}']")
    page.click("#compare-selected")
    page.wait_for_url("**compare.html?**")
    page.wait_for_selector("body[data-state]")
    assert page.get_attribute("body", "data-state") == "ok"
    charts = dashboard.charts(page)
    overlay = charts["compare-latency-throughput"]
    assert [s["label"] for s in overlay["series"]] == [dashboard.refs["batching"], dashboard.refs["slower"]]
    base, slow = (s["points"] for s in overlay["series"])
    assert [round(b[1] * recorded.SLOWER, 6) for b in base] == [round(s[1], 6) for s in slow]
    level2 = page.locator("table.deltas[data-level='2'] tr", has_text="TTFT p90 (ms)").inner_text()
    assert "+25 %" in level2, level2
    # The verdict is the API's (the recorded levels carry no spread, so it is "untested" here).
    answer = httpx.get(
        f"{dashboard.url}/api/v1/compare",
        params=[
            ("run", dashboard.refs["batching"]),
            ("run", dashboard.refs["slower"]),
            ("metric", "ttft_p90_ms"),
        ],
        headers={"Authorization": "Bearer token-viewer"},
        timeout=10,
    ).json()
    verdict = answer["levels"][0]["metrics"][0]["changes"][0]["verdict"]
    assert level2.split("\t")[-1].startswith(verdict), level2
    dashboard.screenshot(page, "compare")


def test_leaderboard_and_recommendation_pages(dashboard: Dashboard) -> None:
    page = dashboard.open("leaderboard.html?metric=ttft_p90_ms&level=4")
    ranked = page.locator("#leaderboard tbody tr").all_inner_texts()
    assert ranked, "no leaderboard rows"
    assert dashboard.refs["batching"] in ranked[0]
    assert dashboard.refs["slower"] in ranked[1]
    page = dashboard.open(f"recommendation.html?ref={dashboard.refs['recommendation']}")
    assert page.get_attribute("body", "data-state") == "ok"
    trace = recorded.recorded("capacityrecommendation-levels.json")["status"]["searchTrace"]
    chart = dashboard.charts(page)["search-goodput"]
    assert [p[0] for p in chart["series"][0]["points"]] == [t["level"] for t in trace]
    assert chart["vlines"] == [{"label": "knee 4", "x": 4}]
    # The formula's steps, as the operator wrote them (status.recommendation.formula).
    formula = page.locator("#formula li").all_inner_texts()
    rec = recorded.recorded("capacityrecommendation-levels.json")["status"]["recommendation"]
    assert formula == rec["formula"].split("; ")
    assert formula[1].endswith("= 12")
    dashboard.screenshot(page, "recommendation")


def test_a_refused_token_gets_the_login_message_and_a_missing_right_the_permission(
    dashboard: Dashboard,
) -> None:
    page = dashboard.open("index.html", token="forged")
    assert page.get_attribute("body", "data-state") == "error-401"
    assert page.get_attribute("#auth-problem", "data-kind") == "unauthorized"
    assert page.locator("#login textarea").is_visible()
    page.fill("#login textarea", "token-viewer")
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-state=ok]")
    assert page.locator("#runs tbody tr").count() >= 1
    page = dashboard.open(f"run.html?ref={dashboard.refs['rate']}")
    assert page.get_attribute("body", "data-state") == "error-403"
    assert page.get_attribute("#auth-problem", "data-kind") == "forbidden"
    assert f"in namespace '{OTHER}'" in page.locator("#auth-problem").inner_text()
    page = dashboard.open("index.html", token=None)
    assert page.get_attribute("body", "data-state") == "login"
    dashboard.screenshot(page, "login")
    dashboard.errors[:] = [e for e in dashboard.errors if "401" not in e and "403" not in e]


def test_llmload_dashboard_hands_the_token_over_in_the_fragment(
    dashboard: Dashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = dashboard.refs["batching"]
    assert (
        cli.main(["dashboard", ref, "--url", dashboard.url, "--token", "token-viewer", "--no-browser"]) == 0
    )
    url = capsys.readouterr().out.strip().splitlines()[-1]
    assert url == f"{dashboard.url}/dashboard/run.html?ref={ref}#token=token-viewer"
    page = dashboard.context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-state=ok]")
    assert "token" not in page.url  # out of the address bar (and the history)
    assert page.evaluate("sessionStorage.getItem('llmload.token')") == "token-viewer"
    assert page.locator("h1").inner_text() == f"Run {ref}"
    # A token the service refuses is said by the command, before any browser opens.
    assert cli.main(["dashboard", "--url", dashboard.url, "--token", "forged", "--no-browser"]) == 1
    assert "did not accept this token" in capsys.readouterr().err


def test_a_running_loadtest_updates_live(dashboard: Dashboard) -> None:
    page = dashboard.open(f"run.html?ref={dashboard.refs['live']}")
    page.wait_for_selector("#live[data-levels='1']")
    assert len(points(dashboard.charts(page)["latency-throughput"], "TTFT p90")) == 1
    live = dashboard.objects.get(TEAM, "live-run")
    assert live is not None
    levels = recorded.recorded(recorded.BATCHING)["status"]["levels"]
    live["status"]["levels"] = levels[:2]
    live["status"]["progress"] = {"currentLevel": 8, "percent": 50, "completedRequests": 200}
    dashboard.objects.put(live)
    page.wait_for_selector("#live[data-levels='2']", timeout=15_000)
    curve = dashboard.charts(page)["latency-throughput"]
    assert points(curve, "TTFT p90") == [[lv["requestsPerSecond"], lv["ttft"]["p90"]] for lv in levels[:2]]
    assert "running level 8" in page.locator("#live").inner_text()
    dashboard.screenshot(page, "live")
    live["status"]["phase"] = "Succeeded"
    live["status"]["levels"] = levels
    dashboard.objects.put(live)
    page.wait_for_selector("#live[data-ended='Finished']", timeout=15_000)
    assert len(points(dashboard.charts(page)["latency-throughput"], "TTFT p90")) == len(levels)
    reads = dashboard.objects.reads
    time.sleep(3)  # longer than a poll: the stream has ended, nothing reads the object any more
    assert dashboard.objects.reads == reads
