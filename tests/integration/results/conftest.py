"""The results service on a real store (SQLite file and PostgreSQL, from the store tests' fixtures), called
through FastAPI's TestClient. The API server's TokenReview and SubjectAccessReview are stood in for by a
table of tokens and rights (the e2e test asks a real API server)."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from loadtest_operator.api import Goodput, LatencySummary, LevelResult, LoadTestSpec
from loadtest_operator.api.gpu import GpuLevelMetrics
from loadtest_operator.core.admission import Access, Requester
from loadtest_operator.io.store import level_row, run_row, save_run, upgrade
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer
from tests.integration.store.conftest import engine, postgres_server, postgres_url, sqlite_engine

__all__ = ["engine", "postgres_server", "postgres_url", "sqlite_engine"]

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class FakeTokens:
    def __init__(self, users: dict[str, Requester]) -> None:
        self.users = users
        self.calls = 0

    async def review(self, token: str) -> Requester | None:
        self.calls += 1
        return self.users.get(token)


class FakeRights:
    """(user, verb, namespace) triples that are allowed; namespace "" = every namespace."""

    def __init__(self, allowed: set[tuple[str, str, str]]) -> None:
        self.allowed_set = allowed
        self.asked: list[Access] = []

    async def allowed(self, user: Requester, access: Access) -> bool:
        self.asked.append(access)
        assert (access.resource, access.group) == ("loadtests", "llmload.io")
        # As RBAC answers: a cluster-wide grant holds in every namespace.
        wanted = {(user.username, access.verb, access.namespace), (user.username, access.verb, "")}
        return bool(wanted & self.allowed_set)


USERS = {
    "token-alice": Requester("alice", groups=("team-a",)),
    "token-bob": Requester("bob"),
    "token-admin": Requester("admin"),
    "token-reader": Requester("reader"),
}
RIGHTS = {
    ("alice", "get", "team-a"),
    ("alice", "delete", "team-a"),
    ("bob", "get", "team-b"),
    ("admin", "get", ""),
    ("admin", "delete", ""),
    ("reader", "get", "team-a"),
    ("reader", "get", "team-b"),
}


@dataclass
class Harness:
    client: TestClient
    engine: Engine
    tokens: FakeTokens
    rights: FakeRights
    authz: Authorizer

    def call(
        self, method: str, path: str, token: str | None = "token-admin", **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response: httpx.Response = self.client.request(method, path, params=params, headers=headers)
        return response

    def get(self, path: str, token: str | None = "token-admin", **params: Any) -> httpx.Response:
        return self.call("GET", path, token, **params)

    def ok(self, path: str, token: str | None = "token-admin", **params: Any) -> Any:
        response = self.get(path, token, **params)
        assert response.status_code == 200, response.text
        return response.json()


SPEC = {
    "target": {"serviceRef": {"name": "vllm", "port": 8000}, "model": "llama"},
    "workload": {"inputTokens": {"mean": 512}, "outputTokens": {"mean": 128}},
    "load": {"levels": [1, 4], "requestsPerLevel": 1000},
    "slo": {"ttftMilliseconds": 500},
}


@dataclass(frozen=True)
class Lv:
    level: int
    ttft_mean: float = 100.0
    ttft_sd: float | None = 10.0
    count: int = 1000
    goodput: int = 900
    otps: float = 500.0
    gpus: int | None = None
    joules: float | None = None


def seed(
    engine: Engine,
    uid: str,
    namespace: str,
    name: str,
    *,
    run_id: int = 0,
    started: datetime = T0,
    model: str = "llama",
    status: str = "Succeeded",
    levels: Sequence[Lv] = (Lv(1), Lv(4, ttft_mean=200.0)),
    mode: str = "Concurrency",
    labels: dict[str, str] | None = None,
) -> None:
    spec = LoadTestSpec.model_validate(
        {**SPEC, "runId": run_id, "target": {**SPEC["target"], "model": model}}  # type: ignore[dict-item]
        | ({"load": {"mode": "Rate", "levels": [1, 4], "requestsPerLevel": 1000}} if mode == "Rate" else {})
    )
    run = run_row(
        uid=uid, namespace=namespace, name=name, spec=spec, status=status, started_at=started,
        updated_at=started + timedelta(minutes=5), finished_at=started + timedelta(minutes=5),
        best_goodput_level=max(lv.level for lv in levels),
        summary={"target": {"pods": [{"name": "vllm-0", "gpus": 1}]}}, labels=labels,
    )  # fmt: skip
    rows = [
        level_row(
            uid,
            run_id,
            LevelResult(
                level=lv.level,
                requests=1000,
                successes=1000 - lv.level,
                requests_per_second=10.0 * lv.level,
                output_tokens_per_second=lv.otps,
                total_tokens_per_second=lv.otps * 3,
                ttft=LatencySummary(
                    p50=lv.ttft_mean,
                    p90=lv.ttft_mean * 1.5,
                    mean=lv.ttft_mean,
                    count=lv.count,
                    stddev=lv.ttft_sd,
                ),
                goodput=Goodput(count=lv.goodput, per_second=lv.goodput / 100, percent=lv.goodput / 10),
                within_slo=True,
                gpu=None
                if lv.gpus is None
                else GpuLevelMetrics(gpu_count=lv.gpus, joules_per_1k_output_tokens=lv.joules),
            ),
        )
        for lv in levels
    ]
    save_run(engine, run, rows)


@pytest.fixture
def harness(engine: Engine) -> Iterator[Harness]:
    upgrade(engine)
    tokens, rights = FakeTokens(USERS), FakeRights(RIGHTS)
    authz = Authorizer(tokens, rights)
    service = Service(engine=engine, authz=authz, now=lambda: NOW)
    with TestClient(create_app(service)) as client:
        yield Harness(client, engine, tokens, rights, authz)
    service.calls.close()
