"""The recorded runs written into a real store the way the operator writes them (io/store's run_row,
level_row, recommendation_row), and the results service over it (tests/integration/results/conftest.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from loadtest_operator.api import (
    CapacityRecommendationSpec,
    CapacityRecommendationStatus,
    LoadTestSpec,
    LoadTestStatus,
)
from loadtest_operator.core.plan import ChildRun
from loadtest_operator.io.narrative import Endpoint
from loadtest_operator.io.store import level_row, run_row, save_run, upgrade
from loadtest_operator.io.store.recommendations import recommendation_row, save_recommendation
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer
from tests.integration.results.conftest import NOW, RIGHTS, USERS, FakeRights, FakeTokens, harness
from tests.integration.store.conftest import engine, postgres_server, postgres_url, sqlite_engine
from tests.unit.report.stored_fixtures import capacity, load

__all__ = ["engine", "harness", "postgres_server", "postgres_url", "sqlite_engine"]

NAMESPACE = "team-a"  # the recorded objects are moved here: alice reads it, bob does not (RIGHTS)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def store_loadtest(engine: Engine, body: dict[str, Any], namespace: str = NAMESPACE) -> None:
    """`body` (a recorded LoadTest) as loadtest/plan.py's final store write."""
    spec = LoadTestSpec.model_validate(body["spec"])
    status = LoadTestStatus.model_validate(body["status"])
    wire = body["status"]
    run = run_row(
        uid=body["metadata"]["uid"], namespace=namespace, name=body["metadata"]["name"], spec=spec,
        status=wire.get("phase") or "Succeeded", started_at=_time(wire["startTime"]),
        updated_at=_time(wire["completionTime"]), finished_at=_time(wire["completionTime"]),
        model=(wire.get("target") or {}).get("model"), best_goodput_level=wire.get("bestGoodputLevel"),
        summary={k: v for k, v in wire.items() if k != "levels"},
    )  # fmt: skip
    save_run(engine, run, [level_row(run.loadtest_uid, run.run_id, lv) for lv in status.levels or []])


def store_capacity(engine: Engine, namespace: str = NAMESPACE) -> dict[str, Any]:
    """The recorded CapacityRecommendation and its children, stored; returns the recommendation."""
    body, children = capacity()
    for child in children:
        store_loadtest(engine, child, namespace)
    status = CapacityRecommendationStatus.model_validate(body["status"])
    row = recommendation_row(
        uid=body["metadata"]["uid"], namespace=namespace, name=body["metadata"]["name"],
        spec=CapacityRecommendationSpec.model_validate(body["spec"]), status=status,
        children=[
            ChildRun(c["metadata"]["name"], c["metadata"]["uid"], int(c["spec"].get("runId") or 0),
                     int(c["metadata"]["labels"]["llmload.io/level"]), int(c["metadata"]["labels"]["llmload.io/repeat"]))
            for c in children
        ],
        target=body["status"]["target"], ready_reason="Recommended", created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    save_recommendation(engine, row)
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """The results service under uvicorn on 127.0.0.1 (a free port), over a store holding the recorded
    batching run and recommendation; `narrate(endpoint)` switches the narrative to `endpoint`."""

    def __init__(self, engine: Engine) -> None:
        upgrade(engine)
        store_loadtest(engine, load("loadtest-batching-mock.json"))
        store_capacity(engine)
        self.service = Service(
            engine=engine, authz=Authorizer(FakeTokens(USERS), FakeRights(RIGHTS)), now=lambda: NOW
        )
        self.app = create_app(self.service)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def narrate(self, endpoint: Endpoint | None) -> None:
        self.app.state.narrative = endpoint

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.service.calls.close()


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[Served]:
    with Served(sqlite_engine) as s:
        yield s
