"""Compare maths, leaderboard order and the export tables, on levels written as the store's columns."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loadtest_operator.results.compare import RunLevels, as_json, compare
from loadtest_operator.results.export import comparison_table, run_table, to_csv
from loadtest_operator.results.figures import cost_per_million_output_tokens, level_figures, run_gpus
from loadtest_operator.results.leaderboard import Entry, LeaderboardError, rank

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def level(n: int, *, ttft: float = 100.0, sd: float | None = 10.0, count: int | None = 1000, otps: float = 500.0,
          goodput: int | None = 900, requests: int = 1000, errors: int = 0, gpus: int | None = None,
          joules: float | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "level": n, "requests": requests, "successes": requests - errors, "errors": errors,
        "requests_per_second": 10.0, "output_tokens_per_second": otps, "total_tokens_per_second": otps * 2,
        "ttft_p50_ms": ttft, "ttft_p90_ms": ttft * 1.5, "ttft_mean_ms": ttft, "ttft_count": count,
        "ttft_stddev_ms": sd, "goodput_count": goodput, "goodput_percent": None if goodput is None else 100 * goodput / requests,
        "goodput_per_second": None if goodput is None else goodput / 100, "gpu_count": gpus,
        "joules_per_1k_output_tokens": joules, "result": {},
    }  # fmt: skip


def row(body: dict[str, Any], lv: int, metric: str) -> dict[str, Any]:
    (found,) = [m for x in body["levels"] if x["level"] == lv for m in x["metrics"] if m["metric"] == metric]
    assert isinstance(found, dict)
    return found


def test_compare_changes_and_verdicts() -> None:
    a = RunLevels("bench/a:0", "Concurrency", {1: level(1), 4: level(4, ttft=200.0)})
    b = RunLevels("bench/b:0", "Concurrency", {1: level(1, ttft=100.5), 4: level(4, ttft=260.0, goodput=800)})
    body = as_json(compare([a, b]))
    assert body["baseline"] == "bench/a:0"
    assert body["warnings"] == []
    (p50,) = row(body, 4, "ttft_p50_ms")["changes"]
    assert (p50["value"], p50["absolute"], p50["percent"]) == (260.0, 60.0, pytest.approx(30.0))
    assert p50["test"] == "welch_t"
    assert p50["verdict"] == "worse"
    assert "distribution's mean" in p50["basis"]
    (tiny,) = row(body, 1, "ttft_mean_ms")["changes"]
    assert tiny["verdict"] == "within noise"  # 0.5 ms on sd 10 ms with 1000 samples each: p ~ 0.26
    assert 0.2 < tiny["pValue"] < 0.3
    (good,) = row(body, 4, "goodput_percent")["changes"]
    assert (good["absolute"], good["test"], good["verdict"]) == (-10.0, "two_proportion_z", "worse")
    (otps,) = row(body, 4, "output_tokens_per_s")["changes"]
    assert (otps["absolute"], otps["verdict"], otps["test"]) == (0.0, "unchanged", None)


def test_compare_matches_levels_and_warns() -> None:
    a = RunLevels("bench/a:0", "Concurrency", {1: level(1), 2: level(2)})
    b = RunLevels("bench/b:0", "Rate", {2: level(2, sd=None), 8: level(8)})
    c = RunLevels("bench/c:0", "Concurrency", {2: level(2, ttft=50.0)})
    comparison = compare([a, b, c], ["ttft_p50_ms"])
    assert [lv.level for lv in comparison.levels] == [1, 2, 8]
    assert any("Rate mode" in w for w in comparison.warnings)
    assert any("bench/c:0 has no results for level(s) 1, 8" in w for w in comparison.warnings)
    two = comparison.levels[1].rows[0]
    assert [c.verdict for c in two.changes] == ["unchanged", "better"]
    one = comparison.levels[0].rows[0]
    assert [c.verdict for c in one.changes] == ["missing", "missing"]
    untested = compare(
        [a, RunLevels("x/y:0", "Concurrency", {1: level(1, ttft=90.0, sd=None)})], ["ttft_p50_ms"]
    )
    assert untested.levels[0].rows[0].changes[0].verdict == "untested"
    with pytest.raises(ValueError, match="two or more"):
        compare([a])


def entry(
    ref: str, levels: dict[int, dict[str, Any]], *, model: str = "m", age: int = 0, gpus: int | None = None
) -> Entry:
    return Entry(ref, "bench", ref, model, "service/vllm:8000", T0 - timedelta(hours=age), levels, gpus)


def test_leaderboard_orders_by_the_metric() -> None:
    runs = [
        entry("slow", {4: level(4, ttft=300.0, goodput=500)}, model="a"),
        entry("fast", {4: level(4, ttft=100.0, goodput=990)}, model="b"),
        entry("mid", {4: level(4, ttft=200.0, goodput=700), 8: level(8, ttft=250.0, goodput=995)}, model="a"),
        entry("none", {1: level(1)}, model="c"),
    ]
    board = rank(runs, "ttft_p90_ms", level=4)
    assert [r.entry.ref for r in board.ranked] == ["fast", "mid", "slow"]
    assert [r.value for r in board.ranked] == [150.0, 300.0, 450.0]
    assert board.excluded == ["none"]
    goodput = rank(runs, "goodput_per_s")  # best level of each run: mid's is level 8
    assert [(r.entry.ref, r.level) for r in goodput.ranked][:2] == [("mid", 8), ("fast", 4)]
    by_model = rank(runs, "goodput_per_s", by="model")
    assert [r.entry.model for r in by_model.ranked] == ["a", "b", "c"]
    with pytest.raises(LeaderboardError, match="needs a level"):
        rank(runs, "ttft_p90_ms")
    with pytest.raises(LeaderboardError, match="unknown metric"):
        rank(runs, "speed")


def test_leaderboard_per_gpu_energy_and_cost() -> None:
    runs = [
        entry("one-gpu", {4: level(4, otps=400.0, gpus=1, joules=300.0)}),
        entry("two-gpus", {4: level(4, otps=600.0, joules=200.0)}, gpus=2),  # GPUs from the run's target
        entry("no-gpu", {4: level(4)}),
    ]
    per_gpu = rank(runs, "output_tokens_per_s_per_gpu")
    assert [(r.entry.ref, r.value) for r in per_gpu.ranked] == [("one-gpu", 400.0), ("two-gpus", 300.0)]
    energy = rank(runs, "joules_per_1k_output_tokens")
    assert [r.entry.ref for r in energy.ranked] == ["two-gpus", "one-gpu"]
    cost = rank(runs, "cost_per_1m_output_tokens", price_per_gpu_hour=3.6)
    # 3.6 per GPU-hour = 0.001 per GPU-second; one GPU at 400 tok/s: 1e6 / 400 * 0.001 = 2.5 per 1M tokens.
    assert [r.entry.ref for r in cost.ranked] == ["one-gpu", "two-gpus"]
    assert [r.value for r in cost.ranked] == pytest.approx([2.5, 10 / 3])
    assert cost_per_million_output_tokens(3.6, None, 400.0) is None
    with pytest.raises(LeaderboardError, match="pricePerGpuHour"):
        rank(runs, "cost_per_1m_output_tokens")


def test_run_gpus_and_figures() -> None:
    assert run_gpus({"target": {"pods": [{"gpus": 2}, {"gpus": 1}]}}) == 3
    assert run_gpus({}) is None
    figures = level_figures(level(1, errors=50, gpus=2) | {"result": {"gpu": {"powerWattsTotalMean": 400.0}}})
    assert figures["error_percent"] == 5.0
    assert figures["output_tokens_per_s_per_gpu"] == 250.0
    assert figures["gpu_power_w"] == 400.0


def test_export_tables_carry_units_in_column_names() -> None:
    run = {"namespace": "bench", "name": "a", "loadtest_uid": "u", "run_id": 0, "model": "m", "target": "t",
           "mode": "Concurrency", "status": "Succeeded", "started_at": T0, "finished_at": None}  # fmt: skip
    table = run_table(run, [level(1), level(2, ttft=120.0)])
    rows = list(csv.DictReader(io.StringIO(to_csv(table).decode())))
    assert [r["level"] for r in rows] == ["1", "2"]
    assert rows[1]["ttft_p50_ms"] == "120.0"
    assert rows[0]["started_at"] == "2026-12-01T00:00:00+00:00"
    assert rows[0]["finished_at"] == ""
    assert {"output_tokens_per_s", "joules_per_1k_output_tokens", "goodput_percent"} <= set(rows[0])
    a = RunLevels("bench/a:0", "Concurrency", {1: level(1)})
    b = RunLevels("bench/b:0", "Concurrency", {1: level(1, ttft=200.0)})
    flat = comparison_table(compare([a, b], ["ttft_p50_ms", "goodput_percent"]))
    assert [r[1] for r in flat.rows] == ["ttft_p50_ms", "goodput_percent"]
    assert flat.rows[0][5:10] == (100.0, "bench/b:0", 200.0, 100.0, 100.0)


def test_a_change_beyond_the_noise_but_under_the_minimum_is_too_small_to_matter() -> None:
    # Two runs of a steady server: 0.6 % more TTFT is far beyond the noise of 100,000 samples each.
    a = RunLevels("bench/a:0", "Concurrency", {8: level(8, ttft=52.35, sd=2.0, count=100_000)})
    b = RunLevels("bench/a:1", "Concurrency", {8: level(8, ttft=52.65, sd=2.0, count=100_000)})
    body = as_json(compare([a, b]))
    assert body["minChangePercent"] == 5.0
    (p50,) = row(body, 8, "ttft_p50_ms")["changes"]
    assert p50["significant"] is True
    assert p50["verdict"] == "too small to matter"
    assert "below the minimum practical change of 5 %" in p50["basis"]
    strict = as_json(compare([a, b], min_change=0.5))
    assert row(strict, 8, "ttft_p50_ms")["changes"][0]["verdict"] == "worse"
    # A percentile that moved 11.5 % while its distribution's mean (the tested figure) moved 0.6 %.
    tail = dict(level(8, ttft=52.65, sd=2.0, count=100_000), ttft_p90_ms=52.35 * 1.5 * 1.115)
    (p90,) = row(as_json(compare([a, RunLevels("bench/a:2", "Concurrency", {8: tail})])), 8, "ttft_p90_ms")[
        "changes"
    ]
    assert (p90["verdict"], round(p90["percent"], 1)) == ("too small to matter", 11.5)
    assert "its mean +0.6 %" in p90["basis"]
    # The mean the test is on moved the other way than the percentile shown.
    against = dict(level(8, ttft=40.0, sd=2.0, count=100_000), ttft_p90_ms=52.35 * 1.5 * 1.2)
    (mixed,) = row(as_json(compare([a, RunLevels("x/y:0", "Concurrency", {8: against})])), 8, "ttft_p90_ms")[
        "changes"
    ]
    assert mixed["verdict"] == "within noise"
    assert "moved the other way" in mixed["basis"]
    with pytest.raises(ValueError, match="0 or more"):
        compare([a, b], min_change=-1)


def test_csv_and_xlsx_never_carry_a_formula_from_users_words() -> None:
    import openpyxl

    from loadtest_operator.results.export import inert, to_xlsx

    run = {"namespace": "bench", "name": "a", "loadtest_uid": "u", "run_id": 0, "model": "=1+1",
           "target": "@SUM(A1)", "mode": "Concurrency", "status": "Succeeded", "started_at": T0,
           "finished_at": None, "labels": {"team": "a", "app": "vllm"}}  # fmt: skip
    table = run_table(run, [level(1, ttft=-3.0)])
    (parsed,) = list(csv.DictReader(io.StringIO(to_csv(table).decode())))
    assert (parsed["model"], parsed["target"]) == ("'=1+1", "'@SUM(A1)")
    assert parsed["labels"] == "app=vllm,team=a"
    assert parsed["ttft_p50_ms"] == "-3.0"  # a number is a number, minus sign and all
    for text in ("+1", "-1", "\tx", "\rx", "=x", "@x"):
        assert inert(text) == "'" + text
    assert (inert("vllm"), inert(-1.0), inert(None)) == ("vllm", -1.0, None)
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx([table])))["levels"]
    header = [c.value for c in sheet[1]]
    model, target = sheet.cell(2, header.index("model") + 1), sheet.cell(2, header.index("target") + 1)
    assert (model.value, model.data_type, target.data_type) == ("=1+1", "s", "s")
    p50 = sheet.cell(2, header.index("ttft_p50_ms") + 1)
    assert (p50.value, p50.data_type) == (-3.0, "n")


def test_a_leaderboard_reads_only_the_columns_its_figure_needs() -> None:
    from loadtest_operator.results.figures import BY_KEY, columns_for, level_figure

    full = level(4, ttft=120.0, gpus=2, joules=150.0, errors=7) | {
        "result": {"gpu": {"utilizationPercentMean": 71.0, "powerWattsTotalMean": 420.0}},
        "tpot_p99_ms": 31.0, "e2e_p50_ms": 900.0,
    }  # fmt: skip
    for key in BY_KEY:
        reduced = {k: v for k, v in full.items() if k in columns_for(key)}
        assert level_figure(reduced, key, 1) == level_figures(full, 1)[key], key
