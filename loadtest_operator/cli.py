"""`llmload`: read LoadTest results back as a table a person can read, or as JSON for machines.

llmload show demo -n default          fetch through your kubeconfig
llmload show demo -o wide             tail percentiles, Rate mode's from-send figures, client lags
llmload show demo --level 16          every figure of one level
llmload show demo -o json             the per-level status, for machines
kubectl get lt demo -o json | llmload show -f -
llmload report demo -o html       findings with the numbers behind them (report_cli.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from loadtest_operator import dashboard_cli, report_cli
from loadtest_operator.api import (
    ClientSaturation,
    LatencyFrom,
    LatencySummary,
    LoadTestConditionType,
    LoadTestStatus,
    Phase,
)
from loadtest_operator.loadtest.live import describe_progress

COLUMNS = (
    ("level", "Level"),
    ("requests", "Reqs"),
    ("errors", "Errors"),
    ("rps", "Req/s"),
    ("otps", "Out tok/s"),
    ("ttft", "TTFT p50/p90/p99 ms"),
    ("tpot", "TPOT p50/p90/p99 ms"),
    ("itl", "ITL mean ms"),
    ("e2e", "E2E p50/p99 ms"),
    ("goodput", "Goodput"),
    ("slo", "SLO"),
    ("gpu_util", "GPU util %"),
    ("power", "Power W"),
    ("energy", "J/1k tok"),
    ("queue", "vLLM run/wait"),
)
# -o wide: the tails, Rate mode's from-send latency and schedule lag, and the client's own health.
WIDE_COLUMNS = (
    *COLUMNS[:5],
    ("ttft", "TTFT p50/p90/p99 ms"),
    ("ttft_tail", "TTFT p95/p99.9 ms"),
    ("ttft_send", "TTFT from send p50/p99 ms"),
    ("tpot", "TPOT p50/p90/p99 ms"),
    ("tpot_tail", "TPOT p95/p99.9 ms"),
    ("itl", "ITL mean ms"),
    ("itl_tail", "ITL p99/p99.9 ms"),
    ("e2e", "E2E p50/p99 ms"),
    ("e2e_tail", "E2E p95/p99.9 ms"),
    ("e2e_send", "E2E from send p50/p99 ms"),
    ("lag", "Sched lag p50/p99 ms"),
    ("loop", "Loop lag p50/p99/max ms"),
    ("tokens", "Tok mismatch/no usage"),
    *COLUMNS[9:],
)
_FROM = {LatencyFrom.SCHEDULED_TIME: "the scheduled send time", LatencyFrom.SEND_TIME: "the send"}
QUANTILES = (
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99.9", "p999"),
    ("mean", "mean"),
)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _stats(summary: LatencySummary | None, fields: Sequence[str], digits: int = 1) -> str:
    return "/".join(_num(getattr(summary, f, None), digits) for f in fields)


def level_rows(status: LoadTestStatus) -> list[dict[str, str]]:
    rows = []
    for lv in status.levels or []:
        sat = lv.saturation or ClientSaturation()
        rows.append(
            {
                "level": str(lv.level) + (" (client-bound)" if lv.client_saturated else ""),
                "requests": str(lv.requests),
                "errors": str(lv.requests - lv.successes),
                "rps": _num(lv.requests_per_second, 2),
                "otps": _num(lv.output_tokens_per_second, 1),
                "ttft": _stats(lv.ttft, ("p50", "p90", "p99")),
                "ttft_tail": _stats(lv.ttft, ("p95", "p999")),
                "ttft_send": _stats(lv.ttft_from_send, ("p50", "p99")),
                "tpot": _stats(lv.tpot, ("p50", "p90", "p99"), 2),
                "tpot_tail": _stats(lv.tpot, ("p95", "p999"), 2),
                "itl": _num(lv.itl.mean if lv.itl else None, 2),
                "itl_tail": _stats(lv.itl, ("p99", "p999"), 2),
                "e2e": _stats(lv.e2e, ("p50", "p99")),
                "e2e_tail": _stats(lv.e2e, ("p95", "p999")),
                "e2e_send": _stats(lv.e2e_from_send, ("p50", "p99")),
                "lag": _stats(lv.schedule_lag, ("p50", "p99")),
                "loop": "/".join(
                    _num(v)
                    for v in (
                        sat.loop_lag_milliseconds_p50,
                        sat.loop_lag_milliseconds_p99,
                        sat.loop_lag_milliseconds_max,
                    )
                ),
                "tokens": f"{lv.token_mismatches}/{lv.usage_missing}",
                "goodput": "-" if lv.goodput is None else f"{lv.goodput.percent:.1f}%",
                "slo": {True: "met", False: "missed", None: "-"}[lv.within_slo],
                "gpu_util": _num(lv.gpu.utilization_percent_mean if lv.gpu else None, 0),
                "power": _num(lv.gpu.power_watts_total_mean if lv.gpu else None, 0),
                "energy": _num(lv.gpu.joules_per_1k_output_tokens if lv.gpu else None, 0),
                "queue": "-"
                if lv.server is None
                else f"{_num(lv.server.requests_running_mean)}/{_num(lv.server.requests_waiting_mean)}",
            }
        )
    return rows


def render_table(rows: Sequence[dict[str, str]], columns: Sequence[tuple[str, str]] = COLUMNS) -> str:
    widths = {key: max(len(title), *(len(r[key]) for r in rows)) for key, title in columns}
    lines = ["  ".join(title.ljust(widths[key]) for key, title in columns)]
    lines += ["  ".join(row[key].ljust(widths[key]) for key, _ in columns) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def level_notes(status: LoadTestStatus, wide: bool = False) -> list[str]:
    """What the table cannot hold: where latency starts, error kinds, why a level is client-bound."""
    levels = status.levels or []
    notes = []
    if any(lv.latency_from is LatencyFrom.SCHEDULED_TIME for lv in levels):
        notes.append(
            "Rate mode: TTFT and E2E count from each request's scheduled send time, so queueing in the "
            "client or behind the in-flight cap shows"
            + ("" if wide else "; -o wide adds the figures from the send and the schedule lag")
        )
    for lv in levels:
        if lv.errors_by_kind:
            kinds = ", ".join(f"{k}={v}" for k, v in lv.errors_by_kind.items())
            notes.append(f"level {lv.level} errors: {kinds}")
        reasons = (lv.saturation.reasons if lv.saturation else None) or []
        if lv.client_saturated:
            notes.append(f"level {lv.level} client-bound: {'; '.join(reasons) or 'no reason recorded'}")
        if lv.token_mismatches or lv.usage_missing:
            notes.append(
                f"level {lv.level}: {lv.token_mismatches} replies of the wrong length (not as pinned, or "
                f"usage below the content chunks), {lv.usage_missing} without usage (tokens counted from chunks)"
            )
    return notes


def render_level(status: LoadTestStatus, level: int) -> str:
    """Every figure of one level, one per line: `llmload show NAME --level 16`."""
    lv = next((x for x in status.levels or [] if x.level == level), None)
    if lv is None:
        known = ", ".join(str(x.level) for x in status.levels or []) or "none yet"
        raise SystemExit(f"llmload: no results for level {level} (levels with results: {known})")
    head = [
        f"level {lv.level}" + (f": TTFT and E2E from {_FROM[lv.latency_from]}" if lv.latency_from else "")
    ]
    head.append(
        f"requests {lv.requests}, successes {lv.successes}, errors {lv.requests - lv.successes}"
        + (f" ({', '.join(f'{k}={v}' for k, v in lv.errors_by_kind.items())})" if lv.errors_by_kind else "")
    )
    head.append(
        f"throughput {_num(lv.requests_per_second, 2)} req/s, {_num(lv.output_tokens_per_second)} output "
        f"tok/s, {_num(lv.total_tokens_per_second)} total tok/s"
    )
    if lv.goodput is not None:
        verdict = {True: "met", False: "missed", None: "-"}[lv.within_slo]
        head.append(
            f"goodput {lv.goodput.count} ({lv.goodput.percent:.1f}%, {lv.goodput.per_second:.2f}/s), SLO {verdict}"
        )
    head.append(f"token mismatches {lv.token_mismatches}, usage missing {lv.usage_missing}")
    table = [("latency ms", [q for q, _ in QUANTILES])]
    for title, summary in (
        ("TTFT", lv.ttft), ("TTFT from send", lv.ttft_from_send), ("TPOT", lv.tpot), ("ITL", lv.itl),
        ("E2E", lv.e2e), ("E2E from send", lv.e2e_from_send), ("schedule lag", lv.schedule_lag),
    ):  # fmt: skip
        if summary is not None:
            table.append((title, [_num(getattr(summary, f), 2) for _, f in QUANTILES]))
    widths = [
        max(len(t) for t, _ in table),
        *(max(len(cells[i]) for _, cells in table) for i in range(len(QUANTILES))),
    ]
    lines = [
        "  ".join([t.ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells, widths[1:], strict=True))])
        for t, cells in table
    ]
    sat = lv.saturation or ClientSaturation()
    tail = [
        f"client {'SATURATED' if lv.client_saturated else 'kept up'}: event-loop lag p50/p99/max "
        f"{_num(sat.loop_lag_milliseconds_p50)}/{_num(sat.loop_lag_milliseconds_p99)}/"
        f"{_num(sat.loop_lag_milliseconds_max)} ms"
        + (
            f", schedule lag p99 {_num(sat.schedule_lag_milliseconds_p99)} ms"
            if sat.schedule_lag_milliseconds_p99 is not None
            else ""
        ),
        *(f"  - {reason}" for reason in sat.reasons or []),
    ]
    return "\n".join([*head, "", *lines, "", *tail])


def render(body: dict[str, Any], wide: bool = False, level: int | None = None) -> str:
    status = LoadTestStatus.model_validate(body.get("status") or {})
    meta = body.get("metadata", {})
    succeeded = next((c for c in status.conditions or [] if c.type == LoadTestConditionType.SUCCEEDED), None)
    head = [
        f"LoadTest {meta.get('namespace', '')}/{meta.get('name', '')}: {status.phase or 'Pending'}"
        + (f" ({succeeded.reason})" if succeeded else ""),
    ]
    if status.target:
        gpus = sum(p.gpus for p in status.target.pods or [])
        head.append(
            f"target {status.target.display} model {status.target.model or '?'}"
            + (f", {gpus} GPU(s) {', '.join(status.target.gpu_models or [])}" if gpus else "")
        )
    if succeeded and succeeded.message and succeeded.status.value != "True":
        head.append(f"message: {succeeded.message}")
    if status.progress is not None and status.phase == Phase.RUNNING:
        head += describe_progress(status.progress, datetime.now(UTC))
    if level is not None:
        return "\n".join([*head, "", render_level(status, level)])
    rows = level_rows(status)
    table = render_table(rows, WIDE_COLUMNS if wide else COLUMNS) if rows else "(no per-level results yet)"
    tail = level_notes(status, wide)
    if status.best_goodput_level:
        tail.append(f"best goodput level: {status.best_goodput_level}")
    gpu = next(
        (c for c in status.conditions or [] if c.type == LoadTestConditionType.GPU_METRICS_AVAILABLE), None
    )
    if gpu is not None:
        tail.append(f"GPU metrics: {gpu.reason}" + (f" ({gpu.message})" if gpu.message else ""))
    return "\n".join([*head, "", table, *(["", *tail] if tail else [])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmload", description="Read LoadTest results.")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="per-level results of a LoadTest as a table (or -o wide, -o json)")
    show.add_argument(
        "name",
        nargs="?",
        help="LoadTest name (fetched with your kubeconfig; when gone, its stored run), or a stored run "
        "NAMESPACE/NAME[:RUNID][@UID]",
    )
    show.add_argument("-n", "--namespace", default="default")
    show.add_argument("-f", "--file", help="read the LoadTest JSON from a file, or - for stdin")
    show.add_argument(
        "-o",
        "--output",
        choices=("table", "wide", "json", "yaml"),
        default="table",
        help="table (default); wide: tail percentiles, Rate mode's from-send latency and schedule lag, "
        "the client's lags; json or yaml: the per-level status for machines",
    )
    show.add_argument("--json", action="store_true", help="the same as -o json")
    show.add_argument("--level", type=int, help="every figure of this one load level")
    report_cli.add_parser(sub)
    dashboard_cli.add_parser(sub)  # the web dashboard in a browser (dashboard_cli.py)
    # The stored history, through the results service (results_cli.py).
    from loadtest_operator.results_cli import add_commands, add_show_arguments, run_command, show_body

    add_show_arguments(show)
    add_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "report":
        return report_cli.main(args)
    if args.command != "show":
        return run_command(args)
    if args.file:
        body = json.load(sys.stdin if args.file == "-" else open(args.file))  # noqa: SIM115
    elif args.name:
        found = show_body(args)  # the live LoadTest, else its stored run
        if found is None:
            return 1
        body = found
    else:
        parser.error("give a LoadTest name or -f FILE")
    if args.json or args.output in ("json", "yaml"):
        levels = body.get("status", {}).get("levels", [])
        if args.level is not None:
            levels = [lv for lv in levels if lv.get("level") == args.level]
        if args.output == "yaml" and not args.json:
            import yaml

            print(yaml.safe_dump(levels, sort_keys=False), end="")
        else:
            print(json.dumps(levels, indent=2))
    else:
        print(render(body, wide=args.output == "wide", level=args.level))
    return 0


if __name__ == "__main__":
    sys.exit(main())
