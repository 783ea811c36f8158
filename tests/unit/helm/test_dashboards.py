"""The chart's Grafana boards are valid dashboard JSON: unique uids and panel ids, every panel placed on the
24-column grid without overlapping another, every datasource referenced through a board variable (so the
board works with whatever a Grafana instance names its data sources), every variable a query uses defined.
The queries themselves run against a real Prometheus (tests/e2e/test_dashboards.py) and a real PostgreSQL
(tests/integration/store/test_dashboard_sql.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.boards import POSTGRES, PROMETHEUS, boards, datasource_variables, panels, queries

BOARDS = boards()
GRID_COLUMNS = 24


def test_the_chart_ships_the_live_history_and_results_boards() -> None:
    assert set(BOARDS) == {"history.json", "live.json", "loadtests.json"}


def test_uids_and_titles_are_unique_across_boards() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    titles = [b["title"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles
    for uid in uids:
        # Grafana's limit on a uid, and the characters it accepts.
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid), uid


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_unique_ids_and_sit_on_the_grid_without_overlap(name: str) -> None:
    board = BOARDS[name]
    assert isinstance(board["schemaVersion"], int)
    all_panels = list(panels(board))
    ids = [p["id"] for p in all_panels]
    assert len(set(ids)) == len(ids), f"{name}: duplicate panel ids {ids}"
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels:
        grid = panel.get("gridPos")
        assert grid is not None, f"{name}: panel {panel.get('title')!r} has no gridPos"
        assert all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")), (name, panel["title"], grid)
        assert min(grid["w"], grid["h"]) >= 1, (name, grid)
        assert min(grid["x"], grid["y"]) >= 0, (name, grid)
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, f"{name}: {panel['title']!r} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = cells.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{name}: {panel['title']!r} overlaps {other!r} at {(x, y)}"
        assert panel.get("title"), f"{name}: a panel without a title"
        if panel["type"] != "row":
            assert panel.get("description"), f"{name}: {panel['title']!r} has no description"
            assert panel.get("targets"), f"{name}: {panel['title']!r} has no query"


def _datasources(board: dict[str, Any]) -> list[tuple[str, Any]]:
    found = []
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        found.append((f"panel {panel['title']!r}", panel.get("datasource")))
        # A target without its own datasource inherits the panel's.
        found += [
            (f"panel {panel['title']!r} {t['refId']}", t["datasource"])
            for t in panel["targets"]
            if "datasource" in t
        ]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable.get("datasource")))
    for annotation in board["annotations"]["list"]:
        if not annotation.get("builtIn"):
            found.append((f"annotation {annotation['name']}", annotation.get("datasource")))
    return found


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_datasource_is_a_board_variable_of_the_right_type(name: str) -> None:
    board = BOARDS[name]
    variables = datasource_variables(board)
    assert set(variables.values()) <= {PROMETHEUS, POSTGRES}, variables
    for where, datasource in _datasources(board):
        assert isinstance(datasource, dict), f"{name}: {where} names no datasource"
        match = re.fullmatch(r"\$\{(\w+)\}", datasource.get("uid", ""))
        assert match, f"{name}: {where} hard-codes datasource uid {datasource.get('uid')!r}"
        assert variables.get(match.group(1)) == datasource["type"], (
            f"{name}: {where} uses ${{{match.group(1)}}} as a {datasource['type']} datasource"
        )


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_variable_a_query_uses_is_defined(name: str) -> None:
    board = BOARDS[name]
    defined = {v["name"] for v in board["templating"]["list"]}
    found = queries(name, board)
    assert found
    for query in found:
        used = set(re.findall(r"\$\{?(\w+)", query.text)) - {"__rate_interval", "__interval", "__timeFilter"}
        assert used <= defined, f"{query}: undefined variables {used - defined}"


def test_every_panel_of_the_live_board_shares_its_variables() -> None:
    """The live board lines client, vLLM and GPU series up: each query selects by the board's variables."""
    for query in queries("live.json", BOARDS["live.json"]):
        if query.where.startswith("panel"):
            assert "$namespace" in query.text, query
            assert "$loadtest" in query.text or "$pod" in query.text, query
