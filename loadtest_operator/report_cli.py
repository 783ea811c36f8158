"""`llmload report`: the findings of a LoadTest (or a CapacityRecommendation) with the numbers behind them,
as Markdown, a self-contained HTML page, or JSON.

llmload report demo -n default                   Markdown on stdout, read through your kubeconfig
llmload report demo -o html > demo.html          one HTML file, nothing fetched when opened
llmload report sizing --kind capacityrecommendation   the knee, search and formula, and its children's levels
kubectl get lt demo -o json | llmload report -f -
llmload report demo --stored --run-id 2          the run the results service stored (the object may be gone)
llmload report demo --narrative                  the stored run's report, then its AI narrative, streamed

The live object is read through your kubeconfig; when it is gone (or with --stored) the report comes from
the results service, reached at --url or through a `kubectl port-forward` (as `llmload history`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from loadtest_operator.report import ReportError, capacity_report, loadtest_report, render
from loadtest_operator.report.narrative import Event, parse_events

KINDS = {"loadtest": "LoadTest", "lt": "LoadTest", "capacityrecommendation": "CapacityRecommendation",
         "caprec": "CapacityRecommendation"}  # fmt: skip
FORMATS = {"md": "markdown", "html": "html", "json": "json"}  # -o → the service's format=


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
    stored = report.add_argument_group("the stored run, from the results service")
    stored.add_argument(
        "--stored", action="store_true",
        help="report on the run the results service stored (automatic when the object is gone)",
    )  # fmt: skip
    stored.add_argument("--run-id", type=int, help="that runId of the LoadTest (default: its newest run)")
    stored.add_argument(
        "--narrative", action="store_true",
        help="after the stored run's report, stream the service's AI narrative of its findings "
        "(when the chart enables it; -o md)",
    )  # fmt: skip
    stored.add_argument("--url", default=os.environ.get("LLMLOAD_RESULTS_URL"), help="the service's base URL")
    stored.add_argument(
        "--token", default=os.environ.get("LLMLOAD_TOKEN"), help="bearer token (default: kubeconfig's)"
    )
    stored.add_argument("--context", help="kubeconfig context")
    stored.add_argument(
        "--results-namespace", default=os.environ.get("LLMLOAD_RESULTS_NAMESPACE", "llmload-system"),
        help="namespace of the service to port-forward to (default llmload-system)",
    )  # fmt: skip
    stored.add_argument("--service", default="llmload-results", help="its Service name")
    stored.add_argument(
        "--insecure-skip-tls-verify", action="store_true", help="do not check an https --url's certificate"
    )
    report.set_defaults(run=run)


def _read(path: str) -> dict[str, Any]:
    try:
        with sys.stdin if path == "-" else open(path) as f:
            body: dict[str, Any] = json.load(f)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"llmload report: cannot read {path}: {exc}") from exc
    return body


Fetch = Callable[[str, str], dict[str, Any] | None]
FetchMany = Callable[[list[str], str], tuple[list[dict[str, Any]], dict[str, str]]]
# (kind, name, namespace, run id, format) -> the report as the service renders it
FetchStored = Callable[[str, str, str, int | None, str], str]
# (kind, name, namespace, run id) -> the narrative's events
StreamNarrative = Callable[[str, str, str, int | None], Iterator[Event]]


def _path(kind: str, name: str, namespace: str, what: str) -> str:
    plural = "recommendations" if kind == "CapacityRecommendation" else "runs"
    return f"/api/v1/namespaces/{namespace}/{plural}/{name}/{what}"


def _service(args: argparse.Namespace) -> tuple[FetchStored, StreamNarrative]:
    """The results service's report and narrative, through io/results_client.py."""
    from loadtest_operator.io.results_client import ResultsError, open_client, stream_lines

    def client() -> Any:
        return open_client(
            args.url, args.token, context=args.context, namespace=args.results_namespace,
            service=args.service, verify=not args.insecure_skip_tls_verify,
        )  # fmt: skip

    def fetch(kind: str, name: str, namespace: str, run_id: int | None, output: str) -> str:
        try:
            with client() as c:
                params = {"format": FORMATS[output], "runId": run_id}
                return str(c.request("GET", _path(kind, name, namespace, "report"), params).text)
        except ResultsError as exc:
            raise SystemExit(f"llmload report: {exc}") from exc

    def narrative(kind: str, name: str, namespace: str, run_id: int | None) -> Iterator[Event]:
        try:
            with (
                client() as c,
                stream_lines(c, _path(kind, name, namespace, "narrative"), {"runId": run_id}) as lines,
            ):
                yield from parse_events(lines)
        except ResultsError as exc:
            yield Event("error", json.dumps({"reason": str(exc)}))

    return fetch, narrative


def run(
    args: argparse.Namespace,
    fetch_loadtest: Fetch | None = None,
    fetch_capacity: Fetch | None = None,
    fetch_children: FetchMany | None = None,
    fetch_stored: FetchStored | None = None,
) -> str:
    """The report as text: of the file, the live object, or (with --stored, --narrative, or when the object
    is gone) the stored run."""
    if args.file:
        body = _read(args.file)
        kind = KINDS[args.kind] if args.kind else str(body.get("kind") or "LoadTest")
        return _render(args, body, kind, fetch_children)
    if not args.name:
        raise SystemExit("llmload report: give an object name or -f FILE")
    kind = KINDS[args.kind or "loadtest"]
    if not (args.stored or args.narrative):
        if fetch_loadtest is None or fetch_capacity is None:
            from loadtest_operator.io import kube  # only here: a cluster

            def live(read: Callable[[str, str], dict[str, Any]]) -> Fetch:
                def fetch(name: str, namespace: str) -> dict[str, Any] | None:
                    try:
                        return kube.found_or_none(read, name, namespace)
                    except kube.KubeError as exc:
                        raise SystemExit(f"llmload report: {exc}") from exc

                return fetch

            fetch_loadtest = fetch_loadtest or live(kube.read_loadtest)
            fetch_capacity = fetch_capacity or live(kube.read_capacity_recommendation)
        found = (fetch_capacity if kind == "CapacityRecommendation" else fetch_loadtest)(
            args.name, args.namespace
        )
        if found is not None:
            return _render(args, found, kind, fetch_children)
        print(f"llmload report: no {kind} {args.name} in namespace {args.namespace}; "
              "reporting the run the results service stored", file=sys.stderr)  # fmt: skip
    if args.narrative and args.output != "md":
        raise SystemExit("llmload report: --narrative streams to a terminal with -o md "
                         "(machines read the service's narrative events: docs/dashboard.md)")  # fmt: skip
    fetch_stored = fetch_stored or _service(args)[0]
    return fetch_stored(kind, args.name, args.namespace, args.run_id, args.output)


def _render(
    args: argparse.Namespace, body: dict[str, Any], kind: str, fetch_children: FetchMany | None
) -> str:
    try:
        if kind == "CapacityRecommendation":
            if fetch_children is None:
                from loadtest_operator.io import kube  # only here: a cluster

                fetch_children = kube.read_loadtests
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


def write_narrative(events: Iterator[Event], out: TextIO, err: TextIO) -> bool:
    """The narrative on `out` as it arrives, marked as generated; a failure as one line on `err`.
    True when the narrative ended normally."""
    for event in events:
        try:
            data = json.loads(event.data)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if event.name == "start":
            out.write(f"\n## AI narrative\n\n_{data.get('notice', '')} Model: {data.get('model', '?')}; "
                      f"prompt sha256 {str((data.get('prompt') or {}).get('sha256', '?'))[:12]}, "
                      f"{'stored' if data.get('stored') else 'not stored'}._\n\n")  # fmt: skip
        elif event.name == "delta":
            out.write(str(data.get("text", "")))
        elif event.name == "end":
            out.write("\n")
            if data.get("finishReason") not in (None, "stop"):
                err.write(f"llmload report: the narrative was cut off ({data.get('finishReason')})\n")
            out.flush()
            return True
        elif event.name == "error":
            out.write("\n")
            err.write(f"llmload report: no AI narrative: {data.get('reason', 'the stream broke off')}\n")
            return False
        out.flush()
    err.write("llmload report: no AI narrative: the stream ended before the narrative did\n")
    return False


def main(args: argparse.Namespace, stream: StreamNarrative | None = None) -> int:
    """`llmload report`: the report on stdout, then (--narrative) the narrative as it is generated. The
    report is written whole first; a narrative that fails is one line on stderr and the exit code stays 0."""
    sys.stdout.write(run(args))
    sys.stdout.flush()
    if args.narrative:
        stream = stream or _service(args)[1]
        write_narrative(stream(KINDS[args.kind or "loadtest"], args.name, args.namespace, args.run_id),
                        sys.stdout, sys.stderr)  # fmt: skip
    return 0
