"""The dashboard's routes over HTTP, without a browser: the pages' security headers and their assets
(all from the service itself), and the live stream's answers and bounds (401, 403, 404, 429, a slot
freed when the browser goes)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from loadtest_operator.results.web import STATIC, live
from tests.browser.conftest import OTHER, TEAM, LiveObjects

pytestmark = pytest.mark.integration
Served = tuple[str, LiveObjects, dict[str, str]]


@pytest.fixture
def http(service_url: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url[0], timeout=15) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_pages_and_assets_come_from_the_service_with_a_strict_policy(http: httpx.Client) -> None:
    redirect = http.get("/dashboard")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "dashboard/"
    index = http.get("/dashboard/")
    assert index.status_code == 200
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert index.headers["x-frame-options"] == "DENY"
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "uPlot.iife.min.js",
        "uPlot.min.css",
        "LICENSE",
        "index.html",
        "run.html",
    }
    for path in files:
        if path.suffix not in (".html", ".js", ".css") or path.parent.name == "uplot":
            continue
        text = path.read_text()
        # Nothing is loaded from elsewhere: every URL a page names is relative to the dashboard.
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        served = http.get(f"/dashboard/{path.relative_to(STATIC)}")
        assert served.status_code == 200, path
        assert served.text == text, path
    assert (
        http.get("/dashboard/vendor/uplot/uPlot.iife.min.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_live_stream_answers(http: httpx.Client) -> None:
    path = f"/api/v1/namespaces/{TEAM}/loadtests/live-run/live"
    assert http.get(path).status_code == 401
    assert http.get(path, headers=bearer("forged")).status_code == 401
    forbidden = http.get(
        f"/api/v1/namespaces/{OTHER}/loadtests/live-run/live", headers=bearer("token-viewer")
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"].startswith(
        f"viewer may not get loadtests.llmload.io 'live-run' in namespace '{OTHER}'"
    )
    missing = http.get(f"/api/v1/namespaces/{TEAM}/loadtests/nothing/live", headers=bearer("token-viewer"))
    assert missing.status_code == 404
    assert "no LoadTest team-a/nothing" in missing.json()["detail"]
    assert (
        http.get(
            f"/api/v1/namespaces/{TEAM}/loadtests/Bad_Name/live", headers=bearer("token-viewer")
        ).status_code
        == 400
    )
    with http.stream("GET", path, headers=bearer("token-viewer")) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        first = next(stream.iter_lines())
        assert first == "event: status"


def test_streams_per_user_are_bounded_and_freed_when_the_browser_goes(
    service_url: Served, http: httpx.Client
) -> None:
    url, _, _ = service_url
    path = f"/api/v1/namespaces/{TEAM}/loadtests/live-run/live"
    held: list[Iterator[str]] = []
    with ExitStack() as streams:
        for _ in range(live.MAX_STREAMS_PER_USER):
            client = streams.enter_context(httpx.Client(base_url=url, timeout=15))
            stream = streams.enter_context(client.stream("GET", path, headers=bearer("token-viewer")))
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(lines) == "event: status"
            streams.callback(stream.close)
            held.append(lines)  # a dropped line iterator would close its stream
        with http.stream("GET", path, headers=bearer("token-viewer")) as refused:
            assert refused.status_code == 429
            assert f"already has {live.MAX_STREAMS_PER_USER} live pages open" in refused.read().decode()
            assert refused.headers["retry-after"] == "60"
    # The connections are closed: the service sees it at its next poll and frees the slots.
    deadline = time.monotonic() + 4 * live.POLL_SECONDS + 5
    while True:
        with http.stream("GET", path, headers=bearer("token-viewer")) as again:
            if again.status_code == 200:
                break
        assert time.monotonic() < deadline, "the closed streams' slots were not freed"
        time.sleep(0.5)


def test_static_dir_is_in_the_package() -> None:
    assert Path(live.__file__).parent / "static" == STATIC
