"""The run report and its AI narrative from the results service, for stored runs and recommendations
(docs/dashboard.md, The run report and The AI narrative):

GET /api/v1/namespaces/{ns}/runs/{name}/report?format=markdown|html|json[&runId=&uid=]
GET /api/v1/namespaces/{ns}/recommendations/{name}/report?format=...
GET /api/v1/namespaces/{ns}/runs/{name}/narrative[?runId=&uid=]          text/event-stream
GET /api/v1/namespaces/{ns}/recommendations/{name}/narrative             text/event-stream

The same rights as the other routes: READ on the namespace. The narrative is off unless the chart names
an endpoint and a model (LLMLOAD_NARRATIVE_*); it never touches the report routes, which answer whole
whatever the endpoint does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from loadtest_operator.core.admission import Requester
from loadtest_operator.io.narrative import ChatStream, Endpoint, NarrativeError
from loadtest_operator.io.store import get_run, list_recommendations
from loadtest_operator.io.store.models import LevelResultRow, RecommendationRow, Run
from loadtest_operator.io.store.repository import levels_of_runs
from loadtest_operator.report import Report, render
from loadtest_operator.report import narrative as story
from loadtest_operator.report.stored import (
    StoredRecommendation,
    StoredRun,
    stored_capacity_report,
    stored_loadtest_report,
)
from loadtest_operator.results.authz import READ, Right
from loadtest_operator.results.query import QueryError, RunRef, check_name

log = logging.getLogger("llmload.results")
Format = Annotated[str, Query(description="markdown (or md), html or json")]
FORMATS = {
    "markdown": ("md", "text/markdown; charset=utf-8"),
    "md": ("md", "text/markdown; charset=utf-8"),
    "html": ("html", "text/html; charset=utf-8"),
    "json": ("json", "application/json"),
}
# The report page fetches nothing (render.py): the header says so too, for browsers that open it directly.
HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
# Narratives written at once; another request meanwhile gets an `error` event saying so (bounded load on
# the model and on this service).
MAX_NARRATIVES = 2


class NarrativeSettings(BaseSettings):
    """The chart's narrative.* values (results-deployment.yaml); both endpoint and model, or it is off."""

    endpoint: str = Field("", validation_alias="LLMLOAD_NARRATIVE_ENDPOINT")
    model: str = Field("", validation_alias="LLMLOAD_NARRATIVE_MODEL")
    api_key: SecretStr | None = Field(None, validation_alias="LLMLOAD_NARRATIVE_API_KEY")
    connect_seconds: float = Field(5.0, gt=0, le=60, validation_alias="LLMLOAD_NARRATIVE_CONNECT_SECONDS")
    first_token_seconds: float = Field(
        30.0, gt=0, le=600, validation_alias="LLMLOAD_NARRATIVE_FIRST_TOKEN_SECONDS"
    )
    total_seconds: float = Field(120.0, gt=0, le=1800, validation_alias="LLMLOAD_NARRATIVE_TOTAL_SECONDS")
    max_chars: int = Field(4000, ge=100, le=100_000, validation_alias="LLMLOAD_NARRATIVE_MAX_CHARS")
    max_tokens: int = Field(600, ge=16, le=32_000, validation_alias="LLMLOAD_NARRATIVE_MAX_TOKENS")

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not (value.startswith(("http://", "https://")) and len(value) > len("https://")):
            raise ValueError(f"narrative.endpoint {value!r} is not an http:// or https:// URL of a server")
        return value

    def endpoint_or_none(self) -> Endpoint | None:
        if not (self.endpoint and self.model):
            return None
        return Endpoint(
            url=self.endpoint, model=self.model,
            api_key=self.api_key.get_secret_value() if self.api_key else None,
            connect_seconds=self.connect_seconds, first_token_seconds=self.first_token_seconds,
            total_seconds=self.total_seconds, max_chars=self.max_chars, max_tokens=self.max_tokens,
        )  # fmt: skip


def stored_run(run: Run, levels: Sequence[LevelResultRow]) -> StoredRun:
    return StoredRun(
        namespace=run.namespace,
        name=run.name,
        uid=run.loadtest_uid,
        run_id=run.run_id,
        outcome=run.status,
        updated_at=run.updated_at,
        spec=run.spec,
        summary=run.summary,
        levels=tuple(row.result for row in sorted(levels, key=lambda r: r.level)),
    )


def stored_recommendation(row: RecommendationRow) -> StoredRecommendation:
    return StoredRecommendation(
        namespace=row.namespace, name=row.name, target=row.target, mode=row.mode, peak=row.peak,
        ready_reason=row.ready_reason, updated_at=row.updated_at, spec=row.spec, measured=row.measured,
        recommendation=row.recommendation, children=tuple(row.children),
    )  # fmt: skip


def _recommendation_and_children(
    engine: Any, namespace: str, name: str
) -> tuple[RecommendationRow, dict[tuple[str, int], StoredRun]] | None:
    rows = list_recommendations(engine, namespace=namespace, name=name, limit=1)
    if not rows:
        return None
    keys = [(str(c.get("loadtestUid")), int(c.get("runId") or 0)) for c in rows[0].children]
    runs = {k: r for k in keys if (r := get_run(engine, *k)) is not None and r.namespace == namespace}
    levels = levels_of_runs(engine, list(runs))
    return rows[0], {k: stored_run(r, levels.get(k, [])) for k, r in runs.items()}


def rendered(report: Report, format: str) -> Response:
    if format not in FORMATS:
        raise QueryError(f"format={format!r}: use markdown, html or json")
    output, media = FORMATS[format]
    headers = {"Content-Security-Policy": HTML_POLICY} if output == "html" else {}
    return Response(render(report, output), media_type=media, headers=headers)


def add_report_routes(
    app: FastAPI,
    service: Any,  # results.app.Service (its store() runs a function on the store's pool)
    *,
    caller: Callable[..., Awaitable[Requester]],  # results.app.caller: the request's user, authenticated
    require: Callable[[Requester, Right, str], Awaitable[None]],
    one_run: Callable[[Requester, RunRef, Right], Awaitable[Run]],
) -> None:
    """The report and narrative routes; `require` and `one_run` are create_app's (authorization, 404s)."""
    app.state.narrative = NarrativeSettings().endpoint_or_none()
    active = [0]  # narratives being written

    async def run_report(
        who: Requester, namespace: str, name: str, run_id: int | None, uid: str | None
    ) -> Report:
        ref = RunRef(check_name(namespace, "namespace"), check_name(name, "name"), run_id, uid)
        found = await one_run(who, ref, READ)
        stored = await service.store(levels_of_runs, [(found.loadtest_uid, found.run_id)])
        return stored_loadtest_report(stored_run(found, stored[(found.loadtest_uid, found.run_id)]))

    async def recommendation_report(who: Requester, namespace: str, name: str) -> Report:
        await require(who, READ, check_name(namespace, "namespace"))
        found = await service.store(_recommendation_and_children, namespace, check_name(name, "name"))
        if found is None:
            raise HTTPException(404, f"no stored CapacityRecommendation {namespace}/{name}")
        row, runs = found
        return stored_capacity_report(stored_recommendation(row), runs)

    @app.get("/api/v1/namespaces/{namespace}/runs/{name}/report", tags=["report"],
             summary="A stored run's report: findings with their numbers")  # fmt: skip
    async def run_report_route(
        namespace: str, name: str, format: Format = "markdown", runId: int | None = None,
        uid: str | None = None, who: Requester = Depends(caller),  # noqa: B008
    ) -> Response:  # fmt: skip
        return rendered(await run_report(who, namespace, name, runId, uid), format)

    @app.get("/api/v1/namespaces/{namespace}/recommendations/{name}/report", tags=["report"],
             summary="A stored CapacityRecommendation's report over its stored child runs")  # fmt: skip
    async def recommendation_report_route(
        namespace: str,
        name: str,
        format: Format = "markdown",
        who: Requester = Depends(caller),  # noqa: B008
    ) -> Response:
        return rendered(await recommendation_report(who, namespace, name), format)

    def narrated(report: Report) -> StreamingResponse:
        endpoint: Endpoint | None = app.state.narrative
        if endpoint is None:
            raise HTTPException(
                404,
                "the AI narrative is off: the chart names no narrative.endpoint and narrative.model "
                "(the report routes work without it)",
            )
        return StreamingResponse(
            _narrative_events(endpoint, story.prompt(report), active),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/v1/namespaces/{namespace}/runs/{name}/narrative", tags=["report"],
             summary="An AI-written narrative of a stored run's findings, streamed (server-sent events)")  # fmt: skip
    async def run_narrative(
        namespace: str, name: str, runId: int | None = None, uid: str | None = None,
        who: Requester = Depends(caller),  # noqa: B008
    ) -> StreamingResponse:  # fmt: skip
        return narrated(await run_report(who, namespace, name, runId, uid))

    @app.get("/api/v1/namespaces/{namespace}/recommendations/{name}/narrative", tags=["report"],
             summary="An AI-written narrative of a stored recommendation's findings (server-sent events)")  # fmt: skip
    async def recommendation_narrative(
        namespace: str,
        name: str,
        who: Requester = Depends(caller),  # noqa: B008
    ) -> StreamingResponse:
        return narrated(await recommendation_report(who, namespace, name))


async def _narrative_events(
    endpoint: Endpoint, built: story.Prompt, active: list[int]
) -> AsyncIterator[bytes]:
    """start, the deltas, then end or error (docs/dashboard.md, The AI narrative)."""
    started = time.monotonic()
    yield story.start_event(endpoint.model, built, endpoint.limits())
    if active[0] >= MAX_NARRATIVES:
        yield story.event("error", {"reason": f"{MAX_NARRATIVES} narratives are being written; try again shortly",
                                    "chars": 0, "seconds": 0.0})  # fmt: skip
        return
    active[0] += 1
    stream = ChatStream(endpoint, built.messages)
    outcome = "error"
    try:
        async for text in stream:
            yield story.event("delta", {"text": text})
        outcome = stream.finish_reason or "stop"
        yield story.event("end", {"chars": stream.chars, "seconds": round(time.monotonic() - started, 3),
                                  "finishReason": outcome})  # fmt: skip
    except NarrativeError as exc:
        yield story.event("error", {"reason": str(exc), "chars": stream.chars,
                                    "seconds": round(time.monotonic() - started, 3)})  # fmt: skip
        outcome = f"error: {exc}"
    finally:
        active[0] -= 1
        log.info(json.dumps({"event": "narrative", "model": endpoint.model, "endpoint": endpoint.where,
                             "promptSha256": built.sha256, "chars": stream.chars, "outcome": outcome,
                             "seconds": round(time.monotonic() - started, 3)}))  # fmt: skip


__all__ = ["NarrativeSettings", "add_report_routes"]
