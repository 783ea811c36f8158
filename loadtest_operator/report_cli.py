"""`llmload report`: the findings of a LoadTest (or a CapacityRecommendation) with the numbers behind them,
as Markdown, a self-contained HTML page, or JSON.

llmload report demo -n default                   Markdown on stdout, read through your kubeconfig
llmload report demo -o html > demo.html          one HTML file, nothing fetched when opened
llmload report sizing --kind capacityrecommendation   the knee, search and formula, and its children's levels
kubectl get lt demo -o json | llmload report -f -
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from loadtest_operator.report import ReportError, capacity_report, loadtest_report, render

KINDS = {"loadtest": "LoadTest", "lt": "LoadTest", "capacityrecommendation": "CapacityRecommendation",
         "caprec": "CapacityRecommendation"}  # fmt: skip


def add_parser(sub: Any) -> None:
    """Register `report` on the `llmload` subcommands (cli.py)."""
    report = sub.add_parser(
        "report", help="findings of a LoadTest or CapacityRecommendation (-o md|html|json)"
    )
    report.add_argument("name", nargs="?", help="object name (fetched with your kubeconfig)")
    report.add_argument("-n", "--namespace", default="default")
    report.add_argument("-f", "--file", help="read the object's JSON from a file, or - for stdin")
    report.add_argument(
        "-k", "--kind", choices=sorted(KINDS), default=None,
        help="what NAME is (default loadtest; with -f the file's kind)",
    )  # fmt: skip
    report.add_argument("-o", "--output", choices=("md", "html", "json"), default="md")
    report.set_defaults(run=run)


def _read(path: str) -> dict[str, Any]:
    try:
        with sys.stdin if path == "-" else open(path) as f:
            body: dict[str, Any] = json.load(f)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"llmload report: cannot read {path}: {exc}") from exc
    return body


Fetch = Callable[[str, str], dict[str, Any]]
FetchMany = Callable[[list[str], str], tuple[list[dict[str, Any]], dict[str, str]]]


def run(
    args: argparse.Namespace,
    fetch_loadtest: Fetch | None = None,
    fetch_capacity: Fetch | None = None,
    fetch_children: FetchMany | None = None,
) -> str:
    if fetch_loadtest is None or fetch_capacity is None or fetch_children is None:
        from loadtest_operator.io import kube  # only here: a cluster

        fetch_loadtest, fetch_capacity = kube.read_loadtest, kube.read_capacity_recommendation
        fetch_children = kube.read_loadtests
    if args.file:
        body = _read(args.file)
        kind = KINDS[args.kind] if args.kind else str(body.get("kind") or "LoadTest")
    elif args.name:
        kind = KINDS[args.kind or "loadtest"]
        body = (fetch_capacity if kind == "CapacityRecommendation" else fetch_loadtest)(
            args.name, args.namespace
        )
    else:
        raise SystemExit("llmload report: give an object name or -f FILE")
    try:
        if kind == "CapacityRecommendation":
            namespace = (body.get("metadata") or {}).get("namespace") or args.namespace
            names = list((body.get("status") or {}).get("children") or [])
            children, missing = fetch_children(names, namespace) if names else ([], {})
            for name, why in missing.items():
                print(f"llmload report: child LoadTest {name} not read ({why})", file=sys.stderr)
            report = capacity_report(body, children)
        elif kind == "LoadTest":
            report = loadtest_report(body)
        else:
            raise SystemExit(
                f"llmload report: cannot report on a {kind}; give a LoadTest or a CapacityRecommendation"
            )
    except ReportError as exc:
        raise SystemExit(f"llmload report: {exc}") from exc
    return render(report, args.output)
