"""Benchmark of issue 20's results-service figure: 100,000 runs in a real PostgreSQL, and the time the
results service takes to answer list, compare and leaderboard queries. Figures, not a test.

It starts a throwaway PostgreSQL on 127.0.0.1 (a free port, its own temp dir, removed afterwards; the
server binaries from Debian's postgresql package or $LLMLOAD_PG_BINDIR), migrates it with the store's
own migrations, writes one run of 4 levels through the operator's own write path (records.py ->
save_run), and copies it server-side (INSERT ... SELECT generate_series) into 100,000 runs of 33,334
LoadTests (3 runs each) over 20 namespaces, 5 models, 10 targets, 5,000 names (so names repeat), with
three labels each and figures varied per level: 400,000 level rows with the operator's full `result` JSON.

The requests go through the real FastAPI app (create_app) in-process (httpx's ASGI transport: no
socket, so the figures are the service's own time), with the project's real Authorizer; TokenReview and
SubjectAccessReview are answered by an in-process stand-in. Decisions are cached 10 s per user
(authz.py), so nearly every request here is a cache hit; a miss costs one TokenReview and one
SubjectAccessReview per namespace involved (8 in flight at once), each a round trip to the API server,
which this benchmark does not measure.

    .venv/bin/python -m benchmarks.results_bench [--runs 100000] [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loadtest_operator.api import Goodput, LatencySummary, LevelResult, LoadTestSpec
from loadtest_operator.api.gpu import GpuLevelMetrics
from loadtest_operator.core.admission import Access, Requester
from loadtest_operator.io.store import create_store_engine, level_row, run_row, save_run, upgrade
from loadtest_operator.io.store.models import LevelResultRow
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer

TARGET_MS = 200.0
NAMESPACES, MODELS, TARGETS, NAMES = 20, 5, 10, 5_000
MODEL_NAMES = ("llama-3-8b", "mistral-7b", "qwen2-7b", "phi-3-mini", "gemma-7b")
LEVELS = (1, 2, 4, 8)
TEMPLATE_UID = "template"
FAST_UNSAFE_SETTINGS = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


def figure(name: str, value: str, target: str = "", met: bool | None = None, note: str = "") -> None:
    """One line, as benchmarks/operator_scale.py prints them."""
    verdict = "" if met is None else ("[met]" if met else "[missed]")
    print(f"  {name}: {value}  {target}  {verdict} {note}".rstrip(), flush=True)


def p(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# -- a throwaway PostgreSQL on loopback ----------------------------------------------------------------


def pg_bindir() -> Path:
    given = os.environ.get("LLMLOAD_PG_BINDIR")
    candidates = [Path(given)] if given else []
    versions = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if d.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda d: int(d.parent.name), reverse=True)
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    sys.exit(
        "results_bench: PostgreSQL server binaries not found (apt-get install postgresql, or LLMLOAD_PG_BINDIR)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 for this run only; yields a database URL. Stopped and deleted after."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="llmload-results-bench-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, user="postgres")
        shutil.chown(sockets, user="postgres")
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    port = free_port()
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {FAST_UNSAFE_SETTINGS}"
        subprocess.run(
            [*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, check=False, timeout=60
            )
        shutil.rmtree(root, ignore_errors=True)


# -- 100,000 runs ----------------------------------------------------------------------------------------


def template_run(engine: Engine, now: datetime) -> None:
    """One finished run of 4 levels, written as the operator writes it."""
    spec = LoadTestSpec.model_validate(
        {
            "target": {"serviceRef": {"name": "vllm-0", "port": 8000}, "model": MODEL_NAMES[0]},
            "workload": {"inputTokens": {"mean": 512}, "outputTokens": {"mean": 128}},
            "load": {"levels": list(LEVELS), "requestsPerLevel": 2000},
            "slo": {"ttftMilliseconds": 500, "tpotMilliseconds": 50},
        }
    )
    summary = {
        "phase": "Succeeded",
        "target": {"display": "service/vllm-0:8000", "pods": [{"name": "vllm-0", "node": "n", "gpus": 1}]},
        "bestGoodputLevel": 8,
    }
    run = run_row(
        uid=TEMPLATE_UID, namespace="team-00", name="template", spec=spec, status="Succeeded",
        started_at=now, updated_at=now, finished_at=now, best_goodput_level=8, summary=summary,
        labels={"team": "team-00", "tier": "prod", "app.kubernetes.io/part-of": "nightly"},
    )  # fmt: skip
    levels = []
    for level in LEVELS:

        def latency(base: float, level: int = level) -> LatencySummary:
            scale = base * (1 + level / 8)
            return LatencySummary(
                p50=scale, p90=scale * 1.4, p95=scale * 1.6, p99=scale * 2.1, p999=scale * 3.0,
                mean=scale * 1.1, count=2000, stddev=scale * 0.3,
            )  # fmt: skip

        result = LevelResult(
            level=level, requests=2000, successes=1990, errors_by_kind={"http_503": 6, "timeout": 4},
            requests_per_second=3.0 * level, output_tokens_per_second=380.0 * level,
            total_tokens_per_second=1900.0 * level, ttft=latency(60.0), tpot=latency(10.0), itl=latency(9.5),
            e2e=latency(1300.0), goodput=Goodput(count=1900, per_second=2.8 * level, percent=95.0),
            within_slo=True,
            gpu=GpuLevelMetrics(gpu_count=1, joules_per_1k_output_tokens=210.0 - level),
        )  # fmt: skip
        levels.append(level_row(TEMPLATE_UID, 0, result))
    save_run(engine, run, levels)


# level_results columns varied per copy (figure x 0.5..1.5); the rest is the template's.
VARIED = {
    "requests_per_second", "output_tokens_per_second", "total_tokens_per_second", "goodput_per_second",
    "goodput_percent", "joules_per_1k_output_tokens",
    *(f"{m}_{s}_ms" for m in ("ttft", "tpot", "itl", "e2e") for s in ("p50", "p90", "p95", "p99", "p999", "mean")),
}  # fmt: skip


def populate(engine: Engine, runs: int, now: datetime) -> None:
    template_run(engine, now)
    runs_sql = f"""
        INSERT INTO runs (loadtest_uid, run_id, namespace, name, target, model, api, mode, status, reason,
                          started_at, finished_at, best_goodput_level, spec, summary, updated_at,
                          vllm_version, fingerprint, validation_checks, validation_failed, labels)
        SELECT md5('lt' || (g / 3))::uuid::text, g % 3,
               'team-' || lpad(((g / 3) % {NAMESPACES})::text, 2, '0'),
               'sweep-' || ((g / 3) % {NAMES}),
               'service/vllm-' || ((g / 3) % {TARGETS}) || '\\:8000',
               (ARRAY{list(MODEL_NAMES)!r})[1 + (g / 3) % {MODELS}],
               t.api, t.mode, CASE WHEN g % 10 = 9 THEN 'Failed' ELSE 'Succeeded' END, t.reason,
               :now - g * interval '5 minutes', :now - g * interval '5 minutes' + interval '4 minutes',
               t.best_goodput_level, t.spec, t.summary, :now, t.vllm_version, t.fingerprint,
               t.validation_checks, t.validation_failed,
               jsonb_build_object('team', 'team-' || lpad(((g / 3) % {NAMESPACES})::text, 2, '0'),
                                  'tier', (ARRAY['prod', 'staging', 'dev'])[1 + (g / 3) % 3],
                                  'app.kubernetes.io/part-of', 'nightly')
        FROM generate_series(0, :runs - 1) AS g, runs AS t WHERE t.loadtest_uid = '{TEMPLATE_UID}'
    """
    columns = [c.name for c in LevelResultRow.__table__.columns]  # type: ignore[attr-defined]
    chosen = []
    for name in columns:
        if name in ("loadtest_uid", "run_id"):
            chosen.append(f"r.{name}")
        elif name in VARIED:
            chosen.append(f"l.{name} * (0.5 + random())")
        else:
            chosen.append(f"l.{name}")
    levels_sql = f"""
        INSERT INTO level_results ({", ".join(columns)})
        SELECT {", ".join(chosen)}
        FROM runs AS r, level_results AS l
        WHERE r.loadtest_uid <> '{TEMPLATE_UID}' AND l.loadtest_uid = '{TEMPLATE_UID}'
    """
    labels_sql = f"""
        INSERT INTO run_labels (loadtest_uid, run_id, key, value)
        SELECT r.loadtest_uid, r.run_id, kv.key, kv.value FROM runs AS r, jsonb_each_text(r.labels) AS kv
        WHERE r.loadtest_uid <> '{TEMPLATE_UID}'
    """
    with engine.begin() as connection:
        connection.execute(text(runs_sql), {"now": now, "runs": runs})
        connection.execute(text(levels_sql))
        connection.execute(text(labels_sql))
        connection.execute(text(f"DELETE FROM runs WHERE loadtest_uid = '{TEMPLATE_UID}'"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def counts(engine: Engine) -> tuple[int, int, int, str]:
    with engine.connect() as connection:
        found = [int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                 for t in ("runs", "level_results", "run_labels")]  # fmt: skip
        size = str(
            connection.execute(
                text("SELECT pg_size_pretty(pg_database_size(current_database()))")
            ).scalar_one()
        )
    return found[0], found[1], found[2], size


# -- the service ----------------------------------------------------------------------------------------


class StandInTokens:
    async def review(self, token: str) -> Requester | None:
        return {"admin": Requester("admin"), "team": Requester("team-reader")}.get(token)


class StandInRights:
    """admin may read everywhere; team-reader reads 3 of the 20 namespaces."""

    async def allowed(self, user: Requester, access: Access) -> bool:
        if user.username == "admin":
            return True
        return access.namespace in ("team-01", "team-07", "team-13")


async def timed(samples: int, call: Callable[[], Awaitable[httpx.Response]]) -> list[float]:
    for _ in range(3):  # warm: plans cached, pool connected, authz cached
        (await call()).raise_for_status()
    took = []
    for _ in range(samples):
        start = time.perf_counter()
        response = await call()
        took.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return took


def report(name: str, took: list[float], note: str = "") -> None:
    p99 = p(took, 99)
    figure(
        f"{name} p99",
        f"{p99:.1f} ms (p50 {p(took, 50):.1f} ms, max {max(took):.1f} ms, n={len(took)})",
        f"target < {TARGET_MS:.0f} ms",
        p99 < TARGET_MS,
        note,
    )


async def measure(engine: Engine, samples: int) -> None:
    service = Service(engine=engine, authz=Authorizer(StandInTokens(), StandInRights()))
    app = create_app(service)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://results.bench", timeout=60
        ) as client:

            def get(
                path: str, token: str = "admin", **params: Any
            ) -> Callable[[], Awaitable[httpx.Response]]:
                headers = {"Authorization": f"Bearer {token}"}
                return lambda: client.get(path, params=params, headers=headers)

            report(
                "list, first page of 50 (reader of every namespace)",
                await timed(samples, get("/api/v1/runs")),
            )
            report(
                "list, first page of 50 (reader of 3 of 20 namespaces)",
                await timed(samples, get("/api/v1/runs", "team")),
            )
            filtered = {
                "model": "mistral-7b", "outcome": "Succeeded", "since": "30d", "labelSelector": "tier in (prod,dev)",
            }  # fmt: skip
            report(
                "list, filtered page (model, outcome, since, labelSelector)",
                await timed(samples, get("/api/v1/runs", **filtered)),
            )
            walk = await walk_pages(client)
            report(
                "list, every page of a full walk (limit 500, the largest page; continue tokens)",
                walk,
                f"{len(walk)} pages; p50 of the first 20 {p(walk[:20], 50):.0f} ms, of the last 20 "
                f"{p(walk[-20:], 50):.0f} ms (keyset: a deep page costs what the first does)",
            )
            first = (
                await client.get(
                    "/api/v1/runs", params={"limit": 300}, headers={"Authorization": "Bearer admin"}
                )
            ).json()
            refs = [i["uniqueRef"] for i in first["items"]]
            report(
                "compare 2 runs (4 levels, every figure)",
                await timed(samples, get("/api/v1/compare", run=[refs[0], refs[150]])),
            )
            report(
                "compare 3 runs (4 levels, every figure)",
                await timed(samples, get("/api/v1/compare", run=[refs[1], refs[100], refs[299]])),
            )
            for what, params in (
                ("goodput/s at each run's best level", {"metric": "goodput_per_s"}),
                ("TTFT p90 at level 8", {"metric": "ttft_p90_ms", "level": 8}),
                ("J per 1k tokens, by model", {"metric": "joules_per_1k_output_tokens", "by": "model"}),
            ):
                board = (await get("/api/v1/leaderboard", **params)()).json()
                report(
                    f"leaderboard, {what}",
                    await timed(samples, get("/api/v1/leaderboard", **params)),
                    f"{board['runsRead']:,} runs read, truncated={board['truncated']}",
                )
            report(
                "leaderboard, goodput/s, reader of 3 namespaces, model filter",
                await timed(
                    samples, get("/api/v1/leaderboard", "team", metric="goodput_per_s", model="qwen2-7b")
                ),
            )
    finally:
        service.calls.close()


async def walk_pages(client: httpx.AsyncClient) -> list[float]:
    took, token, seen = [], None, 0
    while True:
        start = time.perf_counter()
        response = await client.get(
            "/api/v1/runs",
            params={"limit": 500} | ({"continue": token} if token else {}),
            headers={"Authorization": "Bearer admin"},
        )
        took.append((time.perf_counter() - start) * 1000)
        body = response.raise_for_status().json()
        seen += len(body["items"])
        token = body["continue"]
        if not token:
            return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the store (default 100,000)")
    parser.add_argument("--samples", type=int, default=200, help="timed requests per query (default 200)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"results service, {args.runs:,} runs in PostgreSQL (load average {load[0]:.1f} on "
        f"{os.cpu_count()} CPUs: a loaded machine stretches every tail)",
        flush=True,
    )
    with postgres() as url:
        engine = create_store_engine(url)
        try:
            upgrade(engine)
            start = time.perf_counter()
            populate(engine, args.runs, datetime.now(UTC) - timedelta(minutes=1))
            runs, levels, labels, size = counts(engine)
            figure(
                "store",
                f"{runs:,} runs, {levels:,} levels, {labels:,} labels, {size} "
                f"(written in {time.perf_counter() - start:.0f} s)",
            )
            asyncio.run(measure(engine, args.samples))
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
