"""The per-level table printed at the end of a run (pure formatting)."""

from __future__ import annotations

from loadgen.result import RunResult
from loadgen.stats import MetricStats


def _ms(stats: MetricStats, field: str) -> str:
    value = getattr(stats, field)
    return "-" if value is None else f"{value:.1f}"


def render_table(result: RunResult) -> str:
    header = (
        "level", "load", "reqs", "ok", "err", "req/s", "out tok/s", "goodput/s", "good%",
        "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "ITL mean", "E2E p50", "E2E p99", "sat",
    )  # fmt: skip
    rows = [header]
    for level, s in zip(result.levels, result.summaries(), strict=True):
        mode = "u" if level.load_mode == "concurrency" else "/s"
        rows.append(
            (
                str(level.index + 1),
                f"{level.offered_load}{mode}",
                str(level.requests),
                str(level.successes),
                str(level.requests - level.successes),
                f"{level.request_throughput:.1f}",
                f"{level.output_token_throughput:.0f}",
                f"{level.goodput_per_second:.1f}",
                f"{100 * level.goodput_share:.0f}",
                _ms(s.headline_ttft, "p50"),
                _ms(s.headline_ttft, "p99"),
                _ms(s.tpot, "p50"),
                _ms(s.tpot, "p99"),
                _ms(s.itl, "mean"),
                _ms(s.headline_e2e, "p50"),
                _ms(s.headline_e2e, "p99"),
                "YES" if level.client_saturated else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = ["(latencies in ms; load in users (u) or requests per second (/s))"]
    if any(level.load_mode == "rate" for level in result.levels):
        notes.append("(rate mode: TTFT and E2E count from the scheduled send time, queueing included)")
    for level in result.levels:
        if level.errors:
            kinds = ", ".join(f"{k}={v}" for k, v in level.errors.items())
            notes.append(f"level {level.index + 1} errors: {kinds}")
        if level.client_saturated:
            notes.append(f"level {level.index + 1} CLIENT-SATURATED: {'; '.join(level.saturation_reasons)}")
        if level.token_mismatch_count:
            notes.append(
                f"level {level.index + 1}: {level.token_mismatch_count} responses not as long as pinned, "
                "or whose usage counts fewer tokens than content chunks"
            )
    notes.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines + notes)
