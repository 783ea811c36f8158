"""The results service's HTTP API (FastAPI): history, one run, recommendations, compare, leaderboard,
export, purge; /healthz, /readyz, /metrics and the docs. Every /api route needs a bearer token the API
server accepts, and shows only what the caller's Kubernetes rights allow (authz.py). docs/results.md."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from loadtest_operator.core.admission import Requester
from loadtest_operator.io.access import AccessReviewError
from loadtest_operator.io.identity import TokenReviewError
from loadtest_operator.io.store import (
    StoreCalls,
    StoreError,
    current_revision,
    get_run,
    head_revision,
    list_recommendations,
    upgrade,
)
from loadtest_operator.io.store.models import LevelResultRow, Run
from loadtest_operator.io.store.recommendations import recommendation_namespaces
from loadtest_operator.io.store.repository import (
    RunQuery,
    delete_run,
    delete_runs_before,
    find_run,
    levels_of_runs,
    list_runs,
    run_namespaces,
)
from loadtest_operator.results import compare as compare_mod
from loadtest_operator.results import export, leaderboard
from loadtest_operator.results.authz import MAX_NAMESPACES_PER_REQUEST, PURGE, READ, Authorizer, Right
from loadtest_operator.results.docs import add_docs
from loadtest_operator.results.figures import BY_KEY, run_gpus
from loadtest_operator.results.observability import ServiceMetrics, access_middleware
from loadtest_operator.results.query import (
    DEFAULT_LIMIT,
    QueryError,
    RunRef,
    check_limit,
    check_name,
    check_outcome,
    decode_continue,
    encode_continue,
    filters_digest,
    parse_run_ref,
    parse_time,
)
from loadtest_operator.results.views import (
    level_map,
    recommendation_json,
    run_json,
    run_ref,
    search_trace,
)
from loadtest_operator.results.web import mount_dashboard

T = TypeVar("T")
MAX_COMPARED = 10
# Runs a leaderboard reads at most (newest first); the answer says when it stopped there.
MAX_LEADERBOARD_RUNS = 2_000
STORE_WORKERS = 4

bearer = HTTPBearer(
    auto_error=False, description="A Kubernetes bearer token (yours: kubectl llmload sends it)"
)


@dataclass
class Service:
    engine: Any  # sqlalchemy Engine; typed loosely so this layer needs no SQLAlchemy import
    authz: Authorizer
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    calls: StoreCalls = field(default_factory=lambda: StoreCalls(workers=STORE_WORKERS))
    migrate: bool = True
    _migrated: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def store(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(engine, *args)` on the store's pool; 503 when the store is away."""
        try:
            if self.migrate and not self._migrated:
                await self.calls.run(self._migrate, seconds=300.0)
            return await self.calls.run(fn, self.engine, *args)
        except StoreError as exc:
            self.metrics.store_errors.inc()
            raise HTTPException(503, f"the run store is unavailable ({exc}); try again shortly") from exc

    def _migrate(self) -> None:
        # The operator migrates too; whoever comes first brings the schema to head (idempotent, and
        # serialized by an advisory lock on PostgreSQL).
        with self._lock:
            if not self._migrated:
                upgrade(self.engine)
                self._migrated = True


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Requester:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            401,
            "no bearer token: send Authorization: Bearer <token> (kubectl llmload sends your kubeconfig's)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    service: Service = request.app.state.service
    before = service.authz.token_reviews
    try:
        user = await service.authz.authenticate(credentials.credentials)
    except TokenReviewError as exc:
        raise HTTPException(503, f"cannot check the token: {exc}") from exc
    finally:
        service.metrics.reviews.labels("token").inc(service.authz.token_reviews - before)
    if user is None:
        raise HTTPException(
            401,
            "the API server did not accept this token (expired, revoked, or from another cluster)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.user = user.username
    return user


User = Annotated[Requester, Depends(caller)]
Refs = Annotated[
    list[str], Query(alias="run", description="NAMESPACE/NAME[:RUNID]; the first is the baseline")
]
Metrics = Annotated[list[str] | None, Query(alias="metric", description="Only these figures (default: all)")]


def _bad_request(exc: QueryError) -> HTTPException:
    return HTTPException(400, str(exc))


def create_app(service: Service) -> FastAPI:
    app = FastAPI(
        title="llmload results",
        version="v1",
        description="The LoadTest run history: list, compare, rank, export and purge, "
        "scoped by your Kubernetes rights (docs/results.md).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.middleware("http")(access_middleware(service.metrics))
    add_docs(app)
    mount_dashboard(app, caller)  # the web dashboard and its live stream (results/web/)

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    async def reviewed(call: Awaitable[T]) -> T:
        before = service.authz.reviews
        try:
            return await call
        except AccessReviewError as exc:
            raise HTTPException(503, f"cannot check your rights: {exc}") from exc
        finally:
            service.metrics.reviews.labels("subject").inc(service.authz.reviews - before)

    async def require(user: Requester, right: Right, namespace: str) -> None:
        if not await reviewed(service.authz.allowed(user, right, namespace)):
            raise HTTPException(
                403, f"{user.username} may not {right.describe(namespace)}: that right is needed here"
            )

    async def readable(user: Requester, right: Right, candidates: list[str]) -> frozenset[str] | None:
        if len(candidates) > MAX_NAMESPACES_PER_REQUEST:
            raise HTTPException(
                400,
                f"the runs asked for span more than {MAX_NAMESPACES_PER_REQUEST} namespaces: "
                "name one with namespace=NAME",
            )
        return await reviewed(service.authz.namespaces_with(user, right, candidates))

    def parse_times(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
        now = service.now()
        return (
            parse_time(since, now, "since") if since else None,
            parse_time(until, now, "until") if until else None,
        )

    async def one_run(user: Requester, ref: RunRef, right: Right = READ, uid: str | None = None) -> Run:
        await require(user, right, ref.namespace)
        run = await service.store(find_run, ref.namespace, ref.name, ref.run_id, uid)
        if run is None:
            raise HTTPException(
                404,
                f"no stored run of LoadTest {ref}"
                + ("" if ref.run_id is None else f" with runId {ref.run_id}")
                + " (llmload history -n NAMESPACE lists the stored ones)",
            )
        return run

    async def levels(runs: list[Run]) -> dict[tuple[str, int], list[LevelResultRow]]:
        return await service.store(levels_of_runs, [(r.loadtest_uid, r.run_id) for r in runs])

    # -- health ------------------------------------------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str | None]:
        revision = await service.store(current_revision)
        return {"status": "ok", "schema": revision, "head": head_revision()}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- runs --------------------------------------------------------------------------------------------

    @app.get("/api/v1/runs", tags=["runs"], summary="Stored runs, newest first, in namespaces you may read")
    async def runs(
        user: User,
        namespace: str | None = None,
        name: str | None = None,
        model: str | None = None,
        target: str | None = None,
        outcome: Annotated[
            str | None, Query(description="Pending, Rejected, Running, Succeeded, Failed")
        ] = None,
        since: Annotated[str | None, Query(description="RFC 3339 time or an age: 24h, 7d")] = None,
        until: str | None = None,
        limit: Annotated[int, Query(description="Page size, 1-500")] = DEFAULT_LIMIT,
        continue_: Annotated[
            str | None, Query(alias="continue", description="Token from the last page")
        ] = None,
        labelSelector: Annotated[
            str | None, Query(description="Not supported: labels are not stored")
        ] = None,
    ) -> dict[str, Any]:
        if labelSelector:
            raise QueryError(
                "labelSelector: the store does not keep LoadTests' labels; filter with name=, model=, "
                "target= (kubectl get lt -l ... lists the live objects by label)"
            )
        check_limit(limit)
        if namespace:
            check_name(namespace, "namespace")
        if name:
            check_name(name, "name")
        start, end = parse_times(since, until)
        query = RunQuery(
            namespace=namespace, name=name, model=model, target=target, status=check_outcome(outcome),
            since=start, until=end, limit=limit + 1,
        )  # fmt: skip
        digest = filters_digest(
            {
                "ns": namespace,
                "name": name,
                "model": model,
                "target": target,
                "outcome": outcome,
                "since": start,
                "until": end,
                "limit": limit,
            }
        )
        offset = decode_continue(continue_, digest) if continue_ else 0
        if namespace:
            await require(user, READ, namespace)
            allowed: frozenset[str] | None = None
        else:
            allowed = await readable(
                user, READ, await service.store(run_namespaces, query, MAX_NAMESPACES_PER_REQUEST + 1)
            )
        found: list[Run] = []
        if allowed is None or allowed:
            found = await service.store(list_runs, _with(query, allowed, offset))
        more = len(found) > limit
        return {
            "items": [run_json(r) for r in found[:limit]],
            "continue": encode_continue(offset + limit, digest) if more else None,
        }

    @app.get("/api/v1/namespaces/{namespace}/runs/{name}", tags=["runs"], summary="One run: levels and spec")
    async def run(
        user: User,
        namespace: str,
        name: str,
        runId: int | None = None,
        uid: str | None = None,
    ) -> dict[str, Any]:
        found = await one_run(
            user, RunRef(check_name(namespace, "namespace"), check_name(name, "name"), runId), uid=uid
        )
        stored = await levels([found])
        return run_json(found, stored[(found.loadtest_uid, found.run_id)], detail=True)

    @app.delete("/api/v1/namespaces/{namespace}/runs/{name}", tags=["purge"], summary="Delete one stored run")
    async def delete_one(
        user: User,
        namespace: str,
        name: str,
        runId: int | None = None,
        uid: str | None = None,
    ) -> dict[str, Any]:
        ref = RunRef(check_name(namespace, "namespace"), check_name(name, "name"), runId)
        found = await one_run(user, ref, PURGE, uid)
        await service.store(delete_run, found.loadtest_uid, found.run_id)
        return {"deleted": [run_ref(found)], "count": 1}

    @app.delete("/api/v1/runs", tags=["purge"], summary="Delete the stored runs started before a time")
    async def purge(
        user: User,
        olderThan: Annotated[str, Query(description="RFC 3339 time or an age: 30d")],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        before = parse_time(olderThan, service.now(), "olderThan")
        if namespace:
            check_name(namespace, "namespace")
            await require(user, PURGE, namespace)
            allowed: frozenset[str] | None = frozenset({namespace})
            skipped = 0
        else:
            candidates = await service.store(
                run_namespaces, RunQuery(until=before), MAX_NAMESPACES_PER_REQUEST + 1
            )
            allowed = await readable(user, PURGE, candidates)
            skipped = 0 if allowed is None else len(set(candidates) - allowed)
            if allowed is not None and not allowed and candidates:
                raise HTTPException(
                    403,
                    f"{user.username} may not delete loadtests.llmload.io in any namespace holding runs "
                    "started before that time: that right is needed to purge them",
                )
        count = await service.store(delete_runs_before, before, allowed) if allowed is None or allowed else 0
        return {"count": count, "before": before.isoformat(), "namespacesSkipped": skipped}

    # -- recommendations ---------------------------------------------------------------------------------

    @app.get("/api/v1/recommendations", tags=["recommendations"], summary="Stored CapacityRecommendations")
    async def recommendations(
        user: User,
        namespace: str | None = None,
        name: str | None = None,
        limit: int = DEFAULT_LIMIT,
        continue_: Annotated[str | None, Query(alias="continue")] = None,
    ) -> dict[str, Any]:
        check_limit(limit)
        digest = filters_digest({"ns": namespace, "name": name, "limit": limit, "kind": "recommendations"})
        offset = decode_continue(continue_, digest) if continue_ else 0
        if namespace:
            await require(user, READ, check_name(namespace, "namespace"))
            allowed: frozenset[str] | None = frozenset({namespace})
        else:
            candidates = await service.store(
                lambda engine: recommendation_namespaces(
                    engine, name=name, limit=MAX_NAMESPACES_PER_REQUEST + 1
                )
            )
            allowed = await readable(user, READ, candidates)
        rows = []
        if allowed is None or allowed:
            rows = await service.store(
                lambda engine: list_recommendations(
                    engine, name=name, namespaces=allowed, offset=offset, limit=limit + 1
                )
            )
        return {
            "items": [recommendation_json(r) for r in rows[:limit]],
            "continue": encode_continue(offset + limit, digest) if len(rows) > limit else None,
        }

    @app.get(
        "/api/v1/namespaces/{namespace}/recommendations/{name}",
        tags=["recommendations"],
        summary="One CapacityRecommendation with its search trace",
    )
    async def recommendation(user: User, namespace: str, name: str) -> dict[str, Any]:
        await require(user, READ, check_name(namespace, "namespace"))
        rows = await service.store(
            lambda engine: list_recommendations(
                engine, namespace=namespace, name=check_name(name, "name"), limit=1
            )
        )
        if not rows:
            raise HTTPException(404, f"no stored CapacityRecommendation {namespace}/{name}")
        row = rows[0]
        keys = [(str(c.get("loadtestUid")), int(c.get("runId") or 0)) for c in row.children]

        def children(
            engine: Any,
        ) -> tuple[dict[tuple[str, int], Run], dict[tuple[str, int], list[LevelResultRow]]]:
            found = {
                k: r for k in keys if (r := get_run(engine, *k)) is not None and r.namespace == namespace
            }
            return found, levels_of_runs(engine, list(found))

        runs_found, levels_found = await service.store(children)
        return recommendation_json(row, search_trace(row, runs_found, levels_found), detail=True)

    # -- compare, leaderboard, export --------------------------------------------------------------------

    async def compared(user: Requester, refs: list[str], metrics: list[str] | None) -> compare_mod.Comparison:
        if not 2 <= len(refs) <= MAX_COMPARED:
            raise QueryError(f"compare takes 2 to {MAX_COMPARED} runs (run=NAMESPACE/NAME[:RUNID], repeated)")
        for m in metrics or ():
            if m not in BY_KEY:
                raise QueryError(f"metric={m!r}: use any of {', '.join(BY_KEY)}")
        found = [await one_run(user, parse_run_ref(r)) for r in refs]
        stored = await levels(found)
        return compare_mod.compare(
            [
                compare_mod.RunLevels(
                    run_ref(r), r.mode, level_map(stored[(r.loadtest_uid, r.run_id)]), run_gpus(r.summary)
                )
                for r in found
            ],
            metrics,
        )

    @app.get("/api/v1/compare", tags=["compare"], summary="Two or more runs level by level, with noise tests")
    async def compare(user: User, refs: Refs, metrics: Metrics = None) -> dict[str, Any]:
        return compare_mod.as_json(await compared(user, refs, metrics))

    @app.get("/api/v1/compare/export", tags=["export"], summary="A comparison as CSV, XLSX or JSON")
    async def compare_export(
        user: User, refs: Refs, metrics: Metrics = None, format: str = "csv"
    ) -> Response:
        comparison = await compared(user, refs, metrics)
        table = export.comparison_table(comparison)
        return _file(format, "comparison", table, lambda: compare_mod.as_json(comparison))

    @app.get(
        "/api/v1/namespaces/{namespace}/runs/{name}/export",
        tags=["export"],
        summary="A run as CSV, XLSX or JSON",
    )
    async def run_export(
        user: User,
        namespace: str,
        name: str,
        runId: int | None = None,
        format: str = "csv",
    ) -> Response:
        found = await one_run(
            user, RunRef(check_name(namespace, "namespace"), check_name(name, "name"), runId)
        )
        stored = (await levels([found]))[(found.loadtest_uid, found.run_id)]
        table = export.run_table(
            found.model_dump(), [lv.model_dump() for lv in stored], run_gpus(found.summary)
        )
        return _file(
            format, f"{found.name}-{found.run_id}", table, lambda: run_json(found, stored, detail=True)
        )

    @app.get("/api/v1/leaderboard", tags=["leaderboard"], summary="Runs or models ranked by one figure")
    async def board(
        user: User,
        metric: Annotated[str, Query(description=", ".join(leaderboard.RANKED) + " or any compare figure")],
        level: int | None = None,
        by: Annotated[str, Query(description="run or model")] = "run",
        pricePerGpuHour: float | None = None,
        namespace: str | None = None,
        model: str | None = None,
        target: str | None = None,
        outcome: str | None = "Succeeded",
        since: str | None = None,
        until: str | None = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        check_limit(limit)
        start, end = parse_times(since, until)
        query = RunQuery(
            namespace=namespace, model=model, target=target, status=check_outcome(outcome or None),
            since=start, until=end, limit=MAX_LEADERBOARD_RUNS + 1,
        )  # fmt: skip
        leaderboard.metric_for(metric)  # a bad metric is a 400 before any review
        if namespace:
            await require(user, READ, check_name(namespace, "namespace"))
            allowed: frozenset[str] | None = None
        else:
            allowed = await readable(
                user, READ, await service.store(run_namespaces, query, MAX_NAMESPACES_PER_REQUEST + 1)
            )
        found = await service.store(list_runs, _with(query, allowed, 0)) if allowed is None or allowed else []
        truncated = len(found) > MAX_LEADERBOARD_RUNS
        found = found[:MAX_LEADERBOARD_RUNS]
        stored = await levels(found)
        entries = [
            leaderboard.Entry(
                run_ref(r), r.namespace, r.name, r.model, r.target, r.started_at,
                level_map(stored[(r.loadtest_uid, r.run_id)]), run_gpus(r.summary),
            )
            for r in found
        ]  # fmt: skip
        try:
            ranked = leaderboard.rank(entries, metric, level=level, by=by, price_per_gpu_hour=pricePerGpuHour)
        except leaderboard.LeaderboardError as exc:
            raise QueryError(str(exc)) from exc
        body = leaderboard.as_json(ranked)
        body["items"] = body["items"][:limit]
        body["runsRead"] = len(found)
        body["truncated"] = truncated
        return body

    return app


def _with(query: RunQuery, namespaces: frozenset[str] | None, offset: int) -> RunQuery:
    return RunQuery(
        namespace=query.namespace, name=query.name, model=query.model, target=query.target, status=query.status,
        since=query.since, until=query.until, limit=query.limit, namespaces=namespaces, offset=offset,
    )  # fmt: skip


def _file(format: str, stem: str, table: export.Table, as_json: Callable[[], dict[str, Any]]) -> Response:
    if format not in export.FORMATS:
        raise QueryError(f"format={format!r}: use csv, xlsx or json")
    if format == "csv":
        body = export.to_csv(table)
    elif format == "xlsx":
        body = export.to_xlsx([table])
    else:
        body = json.dumps(as_json(), indent=2).encode()
    return Response(
        body,
        media_type=export.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{format}"'},
    )
