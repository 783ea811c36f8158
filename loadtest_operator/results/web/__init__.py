"""The web dashboard of the results service: static pages under /dashboard/ (the charting library
ships in static/vendor/, no CDN) that call the JSON API with the user's bearer token, and the live
stream of a running LoadTest (live.py). docs/dashboard.md, "The web dashboard"."""

# No `from __future__ import annotations`: FastAPI must see the route's dependency (a closure), not a string.

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from loadtest_operator.core.admission import Requester
from loadtest_operator.io.user_reads import ApiServer, UserReadError, UserReads
from loadtest_operator.results.query import check_name
from loadtest_operator.results.web import live

STATIC = Path(__file__).parent / "static"
LIVE_PATH = "/api/v1/namespaces/{namespace}/loadtests/{name}/live"
# Scripts, styles and API calls from this origin only: a value from the store can never run as script
# (the pages also write every value as text, never as HTML); no frame may hold the pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
    "data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class DashboardFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        # Pages and scripts change with every release: revalidate (the ETag keeps it cheap).
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_dashboard(app: FastAPI, caller: Callable[..., Awaitable[Requester]]) -> None:
    """Add /dashboard/ and the live stream to `app`; `caller` is the API's token check (a dependency)."""
    app.state.live_slots = live.StreamSlots()

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse("dashboard/")  # relative: right behind any path prefix

    app.mount("/dashboard", DashboardFiles(directory=STATIC, html=True), name="dashboard")

    @app.get(
        LIVE_PATH,
        tags=["live"],
        summary="A LoadTest's status as server-sent events while it runs (read with your own token)",
        response_class=StreamingResponse,
    )
    async def live_stream(
        request: Request, namespace: str, name: str, user: Annotated[Requester, Depends(caller)]
    ) -> StreamingResponse:
        check_name(namespace, "namespace")
        check_name(name, "name")
        token = request.headers["authorization"].partition(" ")[2].strip()  # `caller` checked it
        reads = _reads(app)
        try:
            first = await reads.loadtest(namespace, name, token)
        except UserReadError as exc:
            raise _refused(exc, user, namespace, name) from exc
        slots: live.StreamSlots = app.state.live_slots
        refused = slots.acquire(user.username)
        if refused is not None:
            raise HTTPException(429, refused, headers={"Retry-After": "60"})

        async def events() -> Any:
            try:
                async for chunk in live.stream(
                    reads, namespace, name, token, first,
                    clock=time.monotonic, sleep=asyncio.sleep, gone=request.is_disconnected,
                ):  # fmt: skip
                    yield chunk
            finally:
                slots.release(user.username)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _reads(app: FastAPI) -> live.Reads:
    """The API-server client of the live stream, made on first use (tests set app.state.user_reads)."""
    reads: live.Reads | None = getattr(app.state, "user_reads", None)
    if reads is None:
        try:
            reads = UserReads(ApiServer.from_environment())
        except UserReadError as exc:
            raise HTTPException(503, f"no live view: {exc}") from exc
        app.state.user_reads = reads
    return reads


def _refused(exc: UserReadError, user: Requester, namespace: str, name: str) -> HTTPException:
    if exc.status == 403:
        return HTTPException(
            403,
            f"{user.username} may not get loadtests.llmload.io {name!r} in namespace {namespace!r}: that "
            f"right is needed to watch it live (the API server said: {exc})",
        )
    if exc.status == 401:
        return HTTPException(
            401,
            f"the API server did not accept your token for the live read: {exc}",
            {"WWW-Authenticate": "Bearer"},
        )
    if exc.status == 404:
        return HTTPException(404, f"no LoadTest {namespace}/{name} in the cluster (it may have been deleted)")
    return HTTPException(503, f"cannot read LoadTest {namespace}/{name} from the API server: {exc}")
