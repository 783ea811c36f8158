"""The results service's HTTP API (FastAPI): history, one run, recommendations, compare, leaderboard,
export, purge; /healthz, /readyz, /metrics and the docs. Every /api route needs a bearer token the API
server accepts, and shows only what the caller's Kubernetes rights allow (authz.py). docs/results.md."""

from __future__ import annotations

import dataclasses
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
from loadtest_operator.core.selectors import SELECTOR_EXAMPLE, SelectorError, parse_selector
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
    AmbiguousRunError,
    RunQuery,
    best_values,
    delete_run,
    delete_runs_before,
    find_run,
    levels_of_runs,
    list_runs,
    namespaces_to_check,
    ranking_rows,
    run_namespaces,
    shared_refs,
)
from loadtest_operator.results import compare as compare_mod
from loadtest_operator.results import export, leaderboard
from loadtest_operator.results.authz import MAX_NAMESPACES_PER_REQUEST, PURGE, READ, Authorizer, Right
from loadtest_operator.results.docs import add_docs
from loadtest_operator.results.figures import BY_KEY, Better, column_of, columns_for, run_gpus
from loadtest_operator.results.observability import ServiceMetrics, access_middleware
from loadtest_operator.results.query import (
    DEFAULT_LIMIT,
    QueryError,
    RunRef,
    check_limit,
    check_name,
    check_outcome,
    check_uid,
    decode_after,
    decode_continue,
    encode_after,
    encode_continue,
    filters_digest,
    parse_run_ref,
    parse_time,
)
from loadtest_operator.results.reports import add_report_routes
from loadtest_operator.results.views import (
    distinct_refs,
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
Selector = Annotated[
    str | None,
    Query(alias="labelSelector", description=f"The LoadTests' labels, as kubectl -l: {SELECTOR_EXAMPLE}"),
]
MinChange = Annotated[
    float,
    Query(
        alias="minChange",
        ge=0,
        le=1000,
        description="Smallest change, in percent of the baseline, called better or worse (default 5)",
    ),
]


def _bad_request(exc: QueryError) -> HTTPException:
    return HTTPException(400, str(exc))


def label_selector(text: str | None) -> dict[str, Any] | None:
    """labelSelector= parsed (kubectl's syntax), or a 400 saying what is wrong with it."""
    if not text:
        return None
    try:
        return parse_selector(text)
    except SelectorError as exc:
        raise QueryError(f"labelSelector={text!r}: {exc} (e.g. {SELECTOR_EXAMPLE})") from None


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

    async def readable(
        user: Requester, right: Right, candidates: Callable[[], Awaitable[list[str]]]
    ) -> frozenset[str] | None:
        """The namespaces among `candidates()` where `user` holds `right`; None for every namespace (asked
        first: a cluster-wide reader costs no scan for the namespaces holding runs)."""
        if await reviewed(service.authz.allowed(user, right, "")):
            return None
        return await namespaces_among(user, right, await candidates())

    async def namespaces_among(user: Requester, right: Right, candidates: list[str]) -> frozenset[str] | None:
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

    async def one_run(user: Requester, ref: RunRef, right: Right = READ) -> Run:
        await require(user, right, ref.namespace)
        try:
            run = await service.store(find_run, ref.namespace, ref.name, ref.run_id, ref.uid)
        except AmbiguousRunError as exc:
            raise QueryError(f"run {ref}: {exc}; give more of the uid") from None
        if run is None:
            raise HTTPException(
                404,
                f"no stored run of LoadTest {ref} (llmload history -n {ref.namespace} --name {ref.name} lists the stored ones)",
            )
        return run

    async def shown(runs: list[Run]) -> list[dict[str, Any]]:
        """runs as JSON, each with the ref that names it alone (uniqueRef)."""
        shared = await service.store(shared_refs, runs) if runs else set()
        return [run_json(r, shared=(r.namespace, r.name, r.run_id) in shared) for r in runs]

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
        selector: Selector = None,
    ) -> JSONResponse:
        check_limit(limit)
        if namespace:
            check_name(namespace, "namespace")
        if name:
            check_name(name, "name")
        start, end = parse_times(since, until)
        query = RunQuery(
            namespace=namespace, name=name, model=model, target=target, status=check_outcome(outcome),
            since=start, until=end, limit=limit + 1, selector=label_selector(selector),
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
                "labels": selector,
            }
        )
        after = decode_after(continue_, digest) if continue_ else None
        if namespace:
            await require(user, READ, namespace)
            allowed: frozenset[str] | None = None
        else:
            allowed = await readable(
                user, READ, lambda: service.store(namespaces_to_check, query, MAX_NAMESPACES_PER_REQUEST + 1)
            )
        found: list[Run] = []
        if allowed is None or allowed:
            found = await service.store(
                lambda engine: list_runs(
                    engine, dataclasses.replace(query, namespaces=allowed, after=after), without_spec=True
                )
            )
        page = found[:limit]
        last = page[-1] if page else None
        return _answer(
            {
                "items": await shown(page),
                "continue": encode_after((last.started_at, last.loadtest_uid, last.run_id), digest)
                if last is not None and len(found) > limit
                else None,
            }
        )

    @app.get("/api/v1/namespaces/{namespace}/runs/{name}", tags=["runs"], summary="One run: levels and spec")
    async def run(
        user: User,
        namespace: str,
        name: str,
        runId: int | None = None,
        uid: Annotated[str | None, Query(description="The LoadTest's uid, or its start")] = None,
    ) -> JSONResponse:
        found = await one_run(user, _ref(namespace, name, runId, uid))
        stored = await levels([found])
        shared = await service.store(shared_refs, [found])
        return _answer(
            run_json(found, stored[(found.loadtest_uid, found.run_id)], detail=True, shared=bool(shared))
        )

    @app.delete("/api/v1/namespaces/{namespace}/runs/{name}", tags=["purge"], summary="Delete one stored run")
    async def delete_one(
        user: User,
        namespace: str,
        name: str,
        runId: int | None = None,
        uid: Annotated[str | None, Query(description="The LoadTest's uid, or its start")] = None,
    ) -> dict[str, Any]:
        found = await one_run(user, _ref(namespace, name, runId, uid), PURGE)
        await service.store(delete_run, found.loadtest_uid, found.run_id)
        return {"deleted": [run_ref(found, with_uid=uid is not None)], "count": 1}

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
            allowed = await namespaces_among(user, PURGE, candidates)
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
            allowed = await readable(
                user,
                READ,
                lambda: service.store(
                    lambda engine: recommendation_namespaces(
                        engine, name=name, limit=MAX_NAMESPACES_PER_REQUEST + 1
                    )
                ),
            )
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

    async def compared(
        user: Requester, refs: list[str], metrics: list[str] | None, min_change: float
    ) -> compare_mod.Comparison:
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
                    ref, r.mode, level_map(stored[(r.loadtest_uid, r.run_id)]), run_gpus(r.summary)
                )
                for r, ref in zip(found, distinct_refs(found), strict=True)
            ],
            metrics,
            min_change=min_change,
        )

    @app.get("/api/v1/compare", tags=["compare"], summary="Two or more runs level by level, with noise tests")
    async def compare(
        user: User,
        refs: Refs,
        metrics: Metrics = None,
        min_change: MinChange = compare_mod.MIN_CHANGE_PERCENT,
    ) -> JSONResponse:
        return _answer(compare_mod.as_json(await compared(user, refs, metrics, min_change)))

    @app.get("/api/v1/compare/export", tags=["export"], summary="A comparison as CSV, XLSX or JSON")
    async def compare_export(
        user: User,
        refs: Refs,
        metrics: Metrics = None,
        format: str = "csv",
        min_change: MinChange = compare_mod.MIN_CHANGE_PERCENT,
    ) -> Response:
        comparison = await compared(user, refs, metrics, min_change)
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
        uid: Annotated[str | None, Query(description="The LoadTest's uid, or its start")] = None,
    ) -> Response:
        found = await one_run(user, _ref(namespace, name, runId, uid))
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
        selector: Selector = None,
    ) -> JSONResponse:
        check_limit(limit)
        start, end = parse_times(since, until)
        query = RunQuery(
            namespace=namespace, model=model, target=target, status=check_outcome(outcome or None),
            since=start, until=end, limit=MAX_LEADERBOARD_RUNS + 1, selector=label_selector(selector),
        )  # fmt: skip
        leaderboard.metric_for(metric)  # a bad metric is a 400 before any review
        if namespace:
            await require(user, READ, check_name(namespace, "namespace"))
            allowed: frozenset[str] | None = None
        else:
            allowed = await readable(
                user, READ, lambda: service.store(namespaces_to_check, query, MAX_NAMESPACES_PER_REQUEST + 1)
            )
        runs_found: list[RankedRun] = []
        if allowed is None or allowed:
            runs_found = await service.store(
                ranked_runs, dataclasses.replace(query, namespaces=allowed), metric, level
            )
        truncated = len(runs_found) > MAX_LEADERBOARD_RUNS
        runs_found = runs_found[:MAX_LEADERBOARD_RUNS]
        entries = [
            leaderboard.Entry(ref, r.namespace, r.name, r.model, r.target, r.started_at, r.levels, r.gpus)
            for r, ref in zip(runs_found, distinct_refs(runs_found), strict=True)
        ]
        try:
            ranked = leaderboard.rank(entries, metric, level=level, by=by, price_per_gpu_hour=pricePerGpuHour)
        except leaderboard.LeaderboardError as exc:
            raise QueryError(str(exc)) from exc
        body = leaderboard.as_json(ranked, limit)
        body["runsRead"] = len(runs_found)
        body["truncated"] = truncated
        return _answer(body)

    # -- the run report and its AI narrative, for stored runs (reports.py) ------------------------------

    add_report_routes(app, service, caller=caller, require=require, one_run=one_run)
    return app


@dataclass(frozen=True, slots=True)
class RankedRun:
    """A run as a leaderboard ranks it: who it is, its levels as leaderboard.rank reads them, its GPUs.
    (Plain attributes: a leaderboard touches 2,000 of these; a database row's are slower to read.)"""

    loadtest_uid: str
    run_id: int
    namespace: str
    name: str
    model: str | None
    target: str
    started_at: datetime
    levels: dict[int, dict[str, Any]]
    gpus: int | None


def _who(row: Any) -> tuple[str, int, str, str, str | None, str, datetime]:
    """A ranked row's first columns (repository._RANKED_RUN's order): who the run is."""
    return row[0], row[1], row[2], row[3], row[4], row[5], row[6]


def ranked_runs(engine: Any, query: RunQuery, metric: str, level: int | None) -> list[RankedRun]:
    """What a leaderboard ranks: the newest runs of `query`. A figure that is one column is chosen in the
    database (one row per run, its best level); the others are computed here from the few columns they
    need."""
    column = column_of(metric)
    if column is not None:
        better = leaderboard.metric_for(metric).better
        rows = best_values(engine, query, column, higher_is_better=better is Better.HIGHER, level=level)
        return [
            RankedRun(*_who(row), {} if row[8] is None else {row[7]: {"level": row[7], column: row[8]}}, None)
            for row in rows
        ]
    needs = columns_for("output_tokens_per_s_per_gpu" if metric == leaderboard.COST.key else metric)
    runs, levels = ranking_rows(engine, query, needs, level=level)
    return [
        RankedRun(*_who(row), {lv["level"]: lv for lv in levels[(row[0], row[1])]}, run_gpus(row.summary))
        for row in runs
    ]


def _answer(body: dict[str, Any]) -> JSONResponse:
    """`body` as JSON as it is: the answers are built of plain values already, and FastAPI's encoder would
    walk every value of a 500-run page again."""
    return JSONResponse(body)


def _ref(namespace: str, name: str, run_id: int | None, uid: str | None) -> RunRef:
    return RunRef(
        check_name(namespace, "namespace"), check_name(name, "name"), run_id, check_uid(uid) if uid else None
    )


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
