"""The dashboard in Debian's headless Chromium (driven by Playwright, never a downloaded browser) against
the real results service (uvicorn on loopback) over a SQLite store holding runs recorded on the local
node. As in tests/integration/results, the API server's TokenReview and SubjectAccessReview are a table
of tokens and rights; the live stream's LoadTest reads go over HTTP to a loopback stand-in of the API
server's LoadTest endpoint (it checks the bearer token like RBAC would), through the service's real
client (io/user_reads.py). tests/e2e/test_dashboard_web.py does the same against the real cluster.

Screenshots land in build/screenshots/ (a test artefact, gitignored)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright

from loadtest_operator.core.admission import Requester
from loadtest_operator.io.store import create_store_engine, upgrade
from loadtest_operator.io.user_reads import ApiServer, UserReads
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer
from tests.browser import recorded
from tests.integration.results.conftest import FakeRights, FakeTokens

CHROMIUM = Path("/usr/bin/chromium")
# The guide's flags: nothing may leave the machine (no QUIC, no background or component traffic).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).parents[2] / "build" / "screenshots"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TEAM, OTHER = "team-a", "team-b"
USERS = {"token-viewer": Requester("viewer"), "token-other": Requester("other")}
RIGHTS = {("viewer", "get", TEAM), ("other", "get", OTHER)}
# What the stand-in API server lets each token read: namespace → allowed, as RBAC would answer.
API_RIGHTS = {"token-viewer": {TEAM}, "token-other": {OTHER}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveObjects:
    """The LoadTests the stand-in API server holds; a test moves one on with `update`."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads = 0
        self.lock = threading.Lock()

    def put(self, obj: dict[str, Any]) -> None:
        with self.lock:
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            version = int(self.objects.get(key, {}).get("metadata", {}).get("resourceVersion", "0"))
            obj["metadata"]["resourceVersion"] = str(version + 1)
            self.objects[key] = json.loads(json.dumps(obj))

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            self.reads += 1
            return self.objects.get((namespace, name))


def standin_api_server(objects: LiveObjects) -> ThreadingHTTPServer:
    path = re.compile(r"^/apis/llmload\.io/v1alpha1/namespaces/([^/]+)/loadtests/([^/?]+)$")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            match = path.match(self.path)
            if token not in API_RIGHTS:
                return self.answer(401, {"kind": "Status", "message": "Unauthorized"})
            if match is None:
                return self.answer(
                    404, {"kind": "Status", "message": "the server could not find the requested resource"}
                )
            namespace, name = match.groups()
            if namespace not in API_RIGHTS[token]:
                return self.answer(
                    403, {"kind": "Status", "message": f'loadtests.llmload.io "{name}" is forbidden'}
                )
            found = objects.get(namespace, name)
            if found is None:
                return self.answer(
                    404, {"kind": "Status", "message": f'loadtests.llmload.io "{name}" not found'}
                )
            return self.answer(200, found)

        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)


@dataclass
class Dashboard:
    url: str  # the service's base URL
    objects: LiveObjects
    refs: dict[str, str]
    context: BrowserContext
    errors: list[str] = field(default_factory=list)

    def open(self, path: str, token: str | None = "token-viewer") -> Page:
        """A new tab at /dashboard/PATH, logged in with `token` (handed over in the fragment, as
        `kubectl llmload dashboard` does); waits until the page has rendered or failed."""
        page = self.context.new_page()
        page.on("console", lambda m: self._console(path, m))
        page.on("pageerror", lambda e: self.errors.append(f"{path}: page error: {e}"))
        page.goto(f"{self.url}/dashboard/{path}" + (f"#token={token}" if token else ""))
        page.wait_for_selector("body[data-state]", timeout=15_000)
        return page

    def _console(self, path: str, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{path}: console {message.type}: {message.text}")

    def charts(self, page: Page) -> dict[str, Any]:
        found: dict[str, Any] = page.evaluate("window.llmloadCharts")
        return found

    def screenshot(self, page: Page, name: str, height: int | None = None) -> Path:
        """The whole page as build/screenshots/NAME.png (only its top `height` pixels if given)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        if height is None:
            page.screenshot(path=str(target), full_page=True)
        else:
            page.screenshot(
                path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height}
            )
        return target


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the results service did not start on loopback")
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="module")
def service_url(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, LiveObjects, dict[str, str]]]:
    engine = create_store_engine(str(tmp_path_factory.mktemp("store") / "llmload.db"))
    upgrade(engine)
    batching = recorded.as_namespace(recorded.recorded(recorded.BATCHING), TEAM, "batching")
    refs = {
        "batching": recorded.store_loadtest(engine, batching, T0),
        "slower": recorded.store_loadtest(
            engine,
            recorded.slower(recorded.as_namespace(batching, TEAM, "batching-slower")),
            T0 + timedelta(hours=1),
        ),
        "rate": recorded.store_loadtest(
            engine,
            recorded.as_namespace(recorded.recorded(recorded.RATE), OTHER, "rate"),
            T0 + timedelta(hours=2),
        ),
        "recommendation": recorded.store_recommendation(engine, TEAM, T0 + timedelta(hours=3)),
    }
    # A run without GPU, vLLM or fingerprint figures (no Prometheus, an older operator).
    bare = recorded.as_namespace(recorded.recorded(recorded.RATE), TEAM, "bare")
    for level in bare["status"]["levels"]:
        level.pop("gpu", None)
        level.pop("server", None)
    for key in ("fingerprint", "gpuDiscovery"):
        bare["status"].pop(key, None)
    refs["bare"] = recorded.store_loadtest(engine, bare, T0 + timedelta(hours=2, minutes=30))
    # A LoadTest still running: its "started" row in the store, its status at the stand-in API server.
    live = recorded.as_namespace(batching, TEAM, "live-run")
    live["status"]["phase"] = "Running"
    live["status"]["levels"] = live["status"]["levels"][:1]
    live["status"]["progress"] = {"currentLevel": 4, "percent": 25, "completedRequests": 78}
    refs["live"] = recorded.store_loadtest(engine, live, T0 + timedelta(hours=4), final=False)
    objects = LiveObjects()
    objects.put(live)

    api_server = standin_api_server(objects)
    threading.Thread(target=api_server.serve_forever, daemon=True).start()
    service = Service(engine=engine, authz=Authorizer(FakeTokens(USERS), FakeRights(RIGHTS)))
    app = create_app(service)
    reads = UserReads(ApiServer(f"http://127.0.0.1:{api_server.server_address[1]}"))
    app.state.user_reads = reads
    port = free_port()
    server, thread = _serve(app, port)
    try:
        yield f"http://127.0.0.1:{port}", objects, refs
    finally:
        server.should_exit = True
        thread.join(10)
        api_server.shutdown()
        asyncio.run(reads.close())
        service.calls.close()
        engine.dispose()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium, headless, with `profile` as its fresh --user-data-dir (removed afterwards)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium (hack/install-deps.sh installs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def dashboard(
    service_url: tuple[str, LiveObjects, dict[str, str]], browser: BrowserContext
) -> Iterator[Dashboard]:
    url, objects, refs = service_url
    board = Dashboard(url, objects, refs, browser)
    yield board
    for page in browser.pages:
        if page.url.startswith(url):  # a value written as an element's text, not the value
            assert "[object " not in page.inner_text("body"), page.url
        page.close()
    assert board.errors == [], "the pages logged errors"
