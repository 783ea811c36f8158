"""`llmload dashboard [RUN]` (also `kubectl llmload dashboard`): the results service's web dashboard in
your browser, logged in as you. docs/dashboard.md, "The web dashboard".

llmload dashboard                         the runs list, through a port-forward it holds until Ctrl-C
llmload dashboard bench/sweep:1           one run's page
llmload dashboard --no-browser            print the URL instead of opening a browser

The service is reached as by `llmload history`: at --url, else through `kubectl port-forward` to
svc/llmload-results in --results-namespace. Your token (--token, $LLMLOAD_TOKEN, else your kubeconfig's)
goes in the URL's fragment (#token=...), which a browser never sends to a server: the page keeps it
for that tab (sessionStorage) and takes it out of the address bar.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import webbrowser
from typing import Any
from urllib.parse import quote

from loadtest_operator.io.results_client import (
    DEFAULT_NAMESPACE,
    DEFAULT_SERVICE,
    ResultsClient,
    ResultsError,
    kubeconfig_token,
    port_forward,
)
from loadtest_operator.results.query import QueryError, parse_run_ref


def add_parser(sub: Any) -> None:
    """Register `dashboard` on `llmload`'s subparsers (cli.py)."""
    parser = sub.add_parser(
        "dashboard",
        help="open the web dashboard (runs, curves, compare, leaderboard, live runs) logged in as you",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", nargs="?", metavar="RUN", help="open this run's page: NAMESPACE/NAME[:RUNID]")
    parser.add_argument("--url", default=os.environ.get("LLMLOAD_RESULTS_URL"), help="the service's base URL")
    parser.add_argument(
        "--token", default=os.environ.get("LLMLOAD_TOKEN"), help="bearer token (default: kubeconfig's)"
    )
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--results-namespace",
        default=os.environ.get("LLMLOAD_RESULTS_NAMESPACE", DEFAULT_NAMESPACE),
        help=f"namespace of the service to port-forward to (default {DEFAULT_NAMESPACE})",
    )
    parser.add_argument("--service", default=DEFAULT_SERVICE, help=f"its Service (default {DEFAULT_SERVICE})")
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL (it holds your token) instead of opening it"
    )
    parser.set_defaults(func=run)  # cli.py dispatches through results_cli.run_command


def page_url(base: str, token: str, ref: str | None = None) -> str:
    """The dashboard's URL with the token in its fragment (never in the path or the query)."""
    page = "" if ref is None else f"run.html?ref={quote(ref, safe='/:')}"
    return f"{base.rstrip('/')}/dashboard/{page}#token={quote(token, safe='')}"


def run(args: argparse.Namespace, *, wait: threading.Event | None = None) -> int:
    """Check the token with the service, open (or print) the page, and with a port-forward hold it until
    Ctrl-C (or until `wait` is set: tests)."""
    try:
        ref = None if args.run is None else str(parse_run_ref(args.run))
        token = args.token or kubeconfig_token(args.context)
        if not token:
            raise ResultsError(
                "no bearer token: your kubeconfig's user has none (client certificates cannot be reviewed by "
                "the service); pass --token $(kubectl create token NAME) or set LLMLOAD_TOKEN"
            )
        if args.url:
            _open(args.url, token, ref, args.no_browser)
            return 0
        with port_forward(args.results_namespace, args.service, context=args.context) as base:
            _open(base, token, ref, args.no_browser)
            print("Press Ctrl-C to stop the port-forward (the page stops working then).", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                (wait or threading.Event()).wait()
        return 0
    except (ResultsError, QueryError) as exc:
        print(f"llmload: {exc}", file=sys.stderr)
        return 1


def _open(base: str, token: str, ref: str | None, no_browser: bool) -> None:
    client = ResultsClient(base, token, timeout=30.0)
    try:
        client.json("GET", "/api/v1/runs", {"limit": 1})  # a refused token is said here, not in the page
    finally:
        client.close()
    url = page_url(base, token, ref)
    if not no_browser and webbrowser.open(url):
        print(f"Opened the dashboard in your browser: {url.partition('#')[0]}", flush=True)
        return
    print("The dashboard, logged in as you (this URL holds your token: do not share it):")
    print(url, flush=True)  # the port-forward stays open after this: the line must not wait in a buffer
