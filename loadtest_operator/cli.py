"""`llmload`: read LoadTest results back as a table a person can read, or as JSON for machines.

llmload show demo -n default          fetch through your kubeconfig
kubectl get lt demo -o json | llmload show -f -
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from loadtest_operator.api import LoadTestConditionType, LoadTestStatus, Phase
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


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def level_rows(status: LoadTestStatus) -> list[dict[str, str]]:
    rows = []
    for lv in status.levels or []:
        errors = lv.requests - lv.successes
        rows.append(
            {
                "level": str(lv.level) + (" (client-bound)" if lv.client_saturated else ""),
                "requests": str(lv.requests),
                "errors": str(errors) if not lv.errors_by_kind else f"{errors} {lv.errors_by_kind}",
                "rps": _num(lv.requests_per_second, 2),
                "otps": _num(lv.output_tokens_per_second, 1),
                "ttft": "/".join(_num(getattr(lv.ttft, q, None)) for q in ("p50", "p90", "p99")),
                "tpot": "/".join(_num(getattr(lv.tpot, q, None), 2) for q in ("p50", "p90", "p99")),
                "itl": _num(lv.itl.mean if lv.itl else None, 2),
                "e2e": "/".join(_num(getattr(lv.e2e, q, None)) for q in ("p50", "p99")),
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


def render_table(rows: Sequence[dict[str, str]]) -> str:
    widths = {key: max(len(title), *(len(r[key]) for r in rows)) for key, title in COLUMNS}
    lines = ["  ".join(title.ljust(widths[key]) for key, title in COLUMNS)]
    lines += ["  ".join(row[key].ljust(widths[key]) for key, _ in COLUMNS) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def render(body: dict[str, Any]) -> str:
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
    rows = level_rows(status)
    table = render_table(rows) if rows else "(no per-level results yet)"
    tail = [f"best goodput level: {status.best_goodput_level}"] if status.best_goodput_level else []
    gpu = next(
        (c for c in status.conditions or [] if c.type == LoadTestConditionType.GPU_METRICS_AVAILABLE), None
    )
    if gpu is not None:
        tail.append(f"GPU metrics: {gpu.reason}" + (f" ({gpu.message})" if gpu.message else ""))
    return "\n".join([*head, "", table, *(["", *tail] if tail else [])])


def _fetch(name: str, namespace: str) -> dict[str, Any]:
    from loadtest_operator.io.kube import read_loadtest  # only this subcommand talks to a cluster

    return read_loadtest(name, namespace)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmload", description="Read LoadTest results.")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="per-level results of a LoadTest as a table (or --json)")
    show.add_argument("name", nargs="?", help="LoadTest name (fetched with your kubeconfig)")
    show.add_argument("-n", "--namespace", default="default")
    show.add_argument("-f", "--file", help="read the LoadTest JSON from a file, or - for stdin")
    show.add_argument("--json", action="store_true", help="print the per-level status as JSON")
    args = parser.parse_args(argv)
    if args.file:
        body = json.load(sys.stdin if args.file == "-" else open(args.file))  # noqa: SIM115
    elif args.name:
        body = _fetch(args.name, args.namespace)
    else:
        parser.error("give a LoadTest name or -f FILE")
    if args.json:
        print(json.dumps(body.get("status", {}).get("levels", []), indent=2))
    else:
        print(render(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
