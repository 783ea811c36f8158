"""loadgen's end-of-run table: Rate mode's headline latency counts from the schedule, and says so."""

from loadgen.table import render_table

from .helpers import level_from_rows, run_of

# TTFT 100 ms and E2E 400 ms from the send; half the requests were sent 300 ms late.
ROWS = [(100_000, 400_000, 31, 10, 0)] * 50 + [(100_000, 400_000, 31, 10, 300_000)] * 50


def cells(text: str) -> dict[str, str]:
    header, _, row, *_ = text.splitlines()
    titles = [t.strip() for t in header.split("  ") if t.strip()]
    return dict(zip(titles, row.split(), strict=True))


def test_rate_mode_table_shows_latency_from_the_schedule() -> None:
    text = render_table(run_of([level_from_rows(ROWS, load_mode="rate")]))
    row = cells(text)
    assert (row["TTFT p50"], row["TTFT p99"], row["E2E p99"]) == ("250.0", "400.0", "700.0")
    assert "(rate mode: TTFT and E2E count from the scheduled send time, queueing included)" in text


def test_concurrency_mode_table_is_unchanged() -> None:
    text = render_table(run_of([level_from_rows(ROWS)]))
    row = cells(text)
    assert (row["TTFT p50"], row["TTFT p99"], row["E2E p99"]) == ("100.0", "100.0", "400.0")
    assert "rate mode" not in text
