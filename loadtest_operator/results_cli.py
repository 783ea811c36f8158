"""`llmload history | compare | export | leaderboard | purge`: the results service from a terminal
(also as `kubectl llmload ...`). Tables for people, -o json|yaml for machines. docs/results.md.

llmload history -n bench                        stored runs of namespace bench, newest first
llmload history -l team=a,tier!=test            by the LoadTests' labels (kubectl's selector syntax)
llmload show bench/sweep:1                      one stored run's levels (also when the LoadTest is gone)
llmload compare bench/sweep:0 bench/sweep:1     level by level, with each change's noise test
llmload export bench/sweep --format xlsx -o sweep.xlsx
llmload leaderboard --metric ttft_p90_ms --level 8
llmload purge --older-than 30d -n bench

The service is reached at --url (or $LLMLOAD_RESULTS_URL), else through a `kubectl port-forward` to
svc/llmload-results in --results-namespace; the token is --token ($LLMLOAD_TOKEN), else your kubeconfig's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import yaml

from loadtest_operator.io.results_client import (
    DEFAULT_NAMESPACE,
    DEFAULT_SERVICE,
    ResultsClient,
    ResultsError,
    kubeconfig_token,
    live_loadtest,
    port_forward,
)
from loadtest_operator.results.query import SHORT_UID, QueryError, RunRef, parse_run_ref

# What `compare` shows as a table (-o json has every figure; --metric picks others).
TABLE_METRICS = (
    "requests_per_s", "output_tokens_per_s", "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "tpot_p50_ms",
    "itl_mean_ms", "e2e_p50_ms", "e2e_p90_ms", "goodput_percent", "error_percent",
)  # fmt: skip


def add_commands(sub: Any) -> None:
    """Register the subcommands on `llmload`'s subparsers (cli.py)."""
    common = argparse.ArgumentParser(add_help=False)
    _add_where(common)
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")

    history = sub.add_parser("history", parents=[common, out], help="stored runs, newest first")
    history.add_argument("-n", "--namespace", help="only this namespace (default: every one you may read)")
    history.add_argument("--name", help="LoadTest name")
    history.add_argument("--model")
    history.add_argument("--target", help="service/<name>:<port> or the URL")
    history.add_argument("--outcome", help="Succeeded, Failed, Rejected, Running, Pending")
    history.add_argument("--since", help="RFC 3339 time or an age (24h, 7d)")
    history.add_argument("--until")
    history.add_argument(
        "-l", "--selector", help="the LoadTests' labels, as kubectl -l: app=vllm,tier!=test,env in (a,b)"
    )
    history.add_argument("--limit", type=int, default=50, help="most runs to show (default 50)")
    history.set_defaults(func=_history)

    compare = sub.add_parser("compare", parents=[common, out], help="two or more runs level by level")
    compare.add_argument(
        "runs", nargs="+", metavar="RUN", help="NAMESPACE/NAME[:RUNID] or NAME with -n; first = baseline"
    )
    compare.add_argument("-n", "--namespace", help="namespace of runs given by NAME only")
    compare.add_argument(
        "--metric", action="append", help="a figure to show (repeatable); default: the main ones"
    )
    compare.add_argument(
        "--min-change",
        type=float,
        help="smallest change, in percent of the baseline, called better or worse (default 5)",
    )
    compare.set_defaults(func=_compare)

    export = sub.add_parser("export", parents=[common], help="one run (or a comparison) as CSV, XLSX or JSON")
    export.add_argument("runs", nargs="+", metavar="RUN", help="one run, or two or more for their comparison")
    export.add_argument("-n", "--namespace")
    export.add_argument("--format", choices=("csv", "xlsx", "json"), default="csv")
    export.add_argument("--min-change", type=float, help="for a comparison: as in compare")
    export.add_argument(
        "-o", "--output-file", dest="file", help="file to write (default: stdout; xlsx needs a file)"
    )
    export.set_defaults(func=_export)

    board = sub.add_parser("leaderboard", parents=[common, out], help="runs or models ranked by one figure")
    board.add_argument("--metric", required=True, help="goodput_per_s, ttft_p90_ms, output_tokens_per_s_per_gpu, "
                       "joules_per_1k_output_tokens, cost_per_1m_output_tokens, ...")  # fmt: skip
    board.add_argument("--level", type=int, help="the load level to read it at (latencies need one)")
    board.add_argument("--by", choices=("run", "model"), default="run")
    board.add_argument("--price-per-gpu-hour", type=float, help="for cost_per_1m_output_tokens")
    board.add_argument("-n", "--namespace")
    board.add_argument("--model")
    board.add_argument("--target")
    board.add_argument("-l", "--selector", help="the LoadTests' labels, as kubectl -l")
    board.add_argument("--limit", type=int, default=20)
    board.set_defaults(func=_leaderboard)

    purge = sub.add_parser("purge", parents=[common, out], help="delete stored runs (the LoadTests stay)")
    purge.add_argument("runs", nargs="*", metavar="RUN", help="runs to delete")
    purge.add_argument("-n", "--namespace")
    purge.add_argument("--older-than", help="delete every run started before this (30d, or an RFC 3339 time)")
    purge.set_defaults(func=_purge)


def _add_where(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where the results service is")
    where.add_argument("--url", default=os.environ.get("LLMLOAD_RESULTS_URL"), help="its base URL")
    where.add_argument(
        "--token", default=os.environ.get("LLMLOAD_TOKEN"), help="bearer token (default: kubeconfig's)"
    )
    where.add_argument("--context", help="kubeconfig context")
    where.add_argument(
        "--results-namespace",
        default=os.environ.get("LLMLOAD_RESULTS_NAMESPACE", DEFAULT_NAMESPACE),
        help=f"namespace of the service to port-forward to (default {DEFAULT_NAMESPACE})",
    )
    where.add_argument(
        "--service", default=DEFAULT_SERVICE, help=f"its Service name (default {DEFAULT_SERVICE})"
    )
    where.add_argument(
        "--insecure-skip-tls-verify", action="store_true", help="do not check an https --url's certificate"
    )


# -- show (cli.py's subcommand, for a run that is only in the store) -----------------------------------


def add_show_arguments(show: argparse.ArgumentParser) -> None:
    """What `llmload show` needs to fall back to the stored run (cli.py registers the rest)."""
    show.add_argument(
        "--stored",
        action="store_true",
        help="the stored run through the results service, even while the LoadTest exists",
    )
    _add_where(show)


def show_body(args: argparse.Namespace) -> dict[str, Any] | None:
    """The LoadTest `args.name` as `llmload show` renders it: the live object, else (gone, --stored, or a
    ref with :RUNID or @UID) its stored run from the results service, shaped like the object. None after
    saying on stderr why neither could be read."""
    try:
        return _show_body(args)
    except (ResultsError, QueryError) as exc:
        print(f"llmload: {exc}", file=sys.stderr)
        return None


def _show_body(args: argparse.Namespace) -> dict[str, Any]:
    ref = parse_run_ref(args.name, args.namespace)
    if not args.stored and ref.run_id is None and ref.uid is None:
        live = live_loadtest(ref.name, ref.namespace, args.context)
        if live is not None:
            return live
        print(
            f"llmload: no LoadTest {ref} in the cluster (your kubeconfig's); asking the results service",
            file=sys.stderr,
        )
    try:
        with _client(args) as client:
            run = client.json(
                "GET",
                f"/api/v1/namespaces/{ref.namespace}/runs/{ref.name}",
                {"runId": ref.run_id, "uid": ref.uid},
            )
    except ResultsError as exc:
        if exc.status != 404:
            raise
        where = (
            ""
            if args.stored or ref.run_id is not None or ref.uid is not None
            else "no LoadTest of that name, "
        )
        raise ResultsError(
            f"{ref}: {where}no stored run of it (llmload history -n {ref.namespace} lists the stored runs; "
            f"kubectl get loadtests -n {ref.namespace} the live ones)"
        ) from exc
    print(
        f"llmload: stored run {run.get('uniqueRef') or run['ref']}, started {run['startedAt']}",
        file=sys.stderr,
    )
    return stored_loadtest(run)


def stored_loadtest(run: dict[str, Any]) -> dict[str, Any]:
    """A stored run (GET .../runs/NAME) as the LoadTest object it was: its status is the run's summary
    (the status without levels) with the stored levels back in."""
    status = dict(run.get("summary") or {})
    status["levels"] = [lv["result"] for lv in run.get("levels") or [] if isinstance(lv.get("result"), dict)]
    meta = {
        "namespace": run["namespace"],
        "name": run["name"],
        "uid": run["uid"],
        "labels": run.get("labels") or {},
    }
    return {"metadata": meta, "spec": run.get("spec") or {}, "status": status}


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[ResultsClient]:
    token = args.token or kubeconfig_token(args.context)
    if not token:
        raise ResultsError(
            "no bearer token: your kubeconfig's user has none (client certificates cannot be reviewed by "
            "the service); pass --token $(kubectl create token NAME) or set LLMLOAD_TOKEN"
        )
    verify = not args.insecure_skip_tls_verify
    if args.url:
        client = ResultsClient(args.url, token, verify=verify)
        try:
            yield client
        finally:
            client.close()
        return
    with port_forward(args.results_namespace, args.service, context=args.context) as url:
        client = ResultsClient(url, token)
        try:
            yield client
        finally:
            client.close()


def run_command(args: argparse.Namespace) -> int:
    try:
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except (ResultsError, QueryError) as exc:
        print(f"llmload: {exc}", file=sys.stderr)
        return 1


def _refs(args: argparse.Namespace) -> list[RunRef]:
    return [parse_run_ref(r, args.namespace) for r in args.runs]


def _emit(args: argparse.Namespace, body: Any, table: Callable[[Any], str]) -> int:
    if args.output == "json":
        print(json.dumps(body, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(body, sort_keys=False), end="")
    else:
        print(table(body))
    return 0


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# -- history --------------------------------------------------------------------------------------------


def _history(args: argparse.Namespace) -> int:
    params = {
        "namespace": args.namespace, "name": args.name, "model": args.model, "target": args.target,
        "outcome": args.outcome, "since": args.since, "until": args.until, "limit": min(args.limit, 500),
        "labelSelector": args.selector,
    }  # fmt: skip
    items: list[dict[str, Any]] = []
    with _client(args) as client:
        token = None
        while len(items) < args.limit:
            page = client.json("GET", "/api/v1/runs", {**params, "continue": token})
            items += page["items"]
            token = page.get("continue")
            if not token:
                break
    return _emit(args, {"items": items[: args.limit]}, render_history)


def render_history(body: dict[str, Any]) -> str:
    """RUN is the ref to copy into compare, export, show and purge: it carries @UID where a LoadTest of
    that name was deleted and re-created (both started at runId 0); UID is the uid's start either way."""
    rows = [
        [
            r.get("uniqueRef") or r["ref"], r["uid"][:SHORT_UID],
            r["outcome"] + (f" ({r['reason']})" if r.get("reason") and r["outcome"] != "Succeeded" else ""),
            r.get("model") or "-", r["target"], r["mode"], r["startedAt"][:19].replace("T", " "),
            str(r.get("bestGoodputLevel") or "-"),
        ]
        for r in body["items"]
    ]  # fmt: skip
    if not rows:
        return "no stored runs you may read match (llmload history -n NAMESPACE, or fewer filters)"
    return table(["RUN", "UID", "OUTCOME", "MODEL", "TARGET", "MODE", "STARTED (UTC)", "BEST LEVEL"], rows)


# -- compare --------------------------------------------------------------------------------------------


def _compare(args: argparse.Namespace) -> int:
    refs = _refs(args)
    metrics = args.metric or (None if args.output != "table" else list(TABLE_METRICS))
    with _client(args) as client:
        body = client.json(
            "GET",
            "/api/v1/compare",
            {"run": [str(r) for r in refs], "metric": metrics, "minChange": args.min_change},
        )
    return _emit(args, body, render_compare)


def render_compare(body: dict[str, Any]) -> str:
    others = body["runs"][1:]
    headers = ["figure", f"{body['baseline']} (baseline)"]
    for ref in others:
        headers += [ref, "change", "verdict"]
    blocks = []
    for level in body["levels"]:
        rows = []
        for m in level["metrics"]:
            row = [f"{m['title']} ({m['unit']})", _num(m["baseline"], 2)]
            for c in m["changes"]:
                change = "-" if c["absolute"] is None else f"{c['absolute']:+.2f}"
                if c["percent"] is not None:
                    change += f" ({c['percent']:+.1f}%)"
                verdict = c["verdict"] + (f" p={c['pValue']:.3g}" if c["pValue"] is not None else "")
                row += [_num(c["value"], 2), change, verdict]
            rows.append(row)
        blocks.append(f"level {level['level']}\n" + table(headers, rows))
    notes = [f"note: {w}" for w in body.get("warnings", [])]
    notes.append(
        f"verdict: better/worse = larger than the noise (p < {body['alpha']}: Welch's t-test on the latency "
        "distribution's mean, two-proportion z-test on goodput and errors) and at least "
        f"{body.get('minChangePercent', 0):g} % of the baseline (--min-change); too small to matter = beyond "
        "the noise but smaller; within noise = not shown to differ; untested = no spread to test against"
    )
    return "\n\n".join(blocks) + "\n\n" + "\n".join(notes)


# -- export ---------------------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    refs = _refs(args)
    if args.format == "xlsx" and not args.file:
        raise ResultsError("an XLSX export needs a file: add -o FILE.xlsx")
    with _client(args) as client:
        if len(refs) == 1:
            ref = refs[0]
            path = f"/api/v1/namespaces/{ref.namespace}/runs/{ref.name}/export"
            response = client.request(
                "GET", path, {"format": args.format, "runId": ref.run_id, "uid": ref.uid}
            )
        else:
            response = client.request(
                "GET",
                "/api/v1/compare/export",
                {"format": args.format, "run": [str(r) for r in refs], "minChange": args.min_change},
            )
    if args.file:
        with open(args.file, "wb") as out:
            out.write(response.content)
        print(f"wrote {args.file} ({len(response.content)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
    return 0


# -- leaderboard ----------------------------------------------------------------------------------------


def _leaderboard(args: argparse.Namespace) -> int:
    params = {
        "metric": args.metric, "level": args.level, "by": args.by, "pricePerGpuHour": args.price_per_gpu_hour,
        "namespace": args.namespace, "model": args.model, "target": args.target, "limit": args.limit,
        "labelSelector": args.selector,
    }  # fmt: skip
    with _client(args) as client:
        body = client.json("GET", "/api/v1/leaderboard", params)
    return _emit(args, body, render_leaderboard)


def render_leaderboard(body: dict[str, Any]) -> str:
    rows = [
        [str(i["rank"]), _num(i["value"], 2), str(i["level"]), i["run"], i.get("model") or "-", i["target"]]
        for i in body["items"]
    ]
    head = f"{body['metric']} ({body['unit']}, {body['better']} is better), by {body['by']}"
    tail = f"\n{len(body['excluded'])} run(s) without this figure left out" if body["excluded"] else ""
    return head + "\n" + table(["RANK", "VALUE", "LEVEL", "RUN", "MODEL", "TARGET"], rows) + tail


# -- purge ----------------------------------------------------------------------------------------------


def _purge(args: argparse.Namespace) -> int:
    if bool(args.runs) == bool(args.older_than):
        raise ResultsError("purge takes RUN... or --older-than AGE (one of the two)")
    deleted: list[str] = []
    body: dict[str, Any] = {}
    with _client(args) as client:
        if args.older_than:
            body = client.json(
                "DELETE", "/api/v1/runs", {"olderThan": args.older_than, "namespace": args.namespace}
            )
        else:
            for ref in _refs(args):
                answer = client.json(
                    "DELETE",
                    f"/api/v1/namespaces/{ref.namespace}/runs/{ref.name}",
                    {"runId": ref.run_id, "uid": ref.uid},
                )
                deleted += answer["deleted"]
            body = {"deleted": deleted, "count": len(deleted)}
    return _emit(args, body, render_purge)


def render_purge(body: dict[str, Any]) -> str:
    if "deleted" in body:
        return "\n".join(f"deleted {ref}" for ref in body["deleted"])
    skipped = body.get("namespacesSkipped") or 0
    return f"deleted {body['count']} run(s) started before {body['before']}" + (
        f"; {skipped} namespace(s) skipped where you may not delete loadtests" if skipped else ""
    )
