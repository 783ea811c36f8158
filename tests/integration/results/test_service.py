"""Every endpoint of the results service on SQLite and PostgreSQL: filters, pages, rights, compare maths,
leaderboard order, exports read back, purge."""

import csv
import io
import json
import logging
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from loadtest_operator.core.selectors import parse_selector, selector_matches
from loadtest_operator.io.store import head_revision, list_runs
from loadtest_operator.io.store.models import LevelResultRow, RecommendationRow, Run, RunLabelRow
from loadtest_operator.io.store.recommendations import save_recommendation
from tests.integration.results.conftest import NOW, T0, Harness, Lv, seed

pytestmark = pytest.mark.integration


def refs(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["ref"] for item in items]


@pytest.fixture
def seeded(harness: Harness) -> Harness:
    e = harness.engine
    seed(e, "a1", "team-a", "sweep", started=T0)
    seed(e, "a1", "team-a", "sweep", run_id=1, started=T0 + timedelta(days=1),
         levels=(Lv(1, ttft_mean=101.0), Lv(4, ttft_mean=260.0, goodput=800)))  # fmt: skip
    seed(e, "a2", "team-a", "other", started=T0 + timedelta(days=2), model="mistral", status="Failed")
    seed(e, "b1", "team-b", "sweep", started=T0 + timedelta(days=3))
    seed(e, "b2", "team-b", "rate", started=T0 + timedelta(days=4), mode="Rate")
    return harness


def test_no_token_or_a_bad_one_is_401(seeded: Harness) -> None:
    missing = seeded.get("/api/v1/runs", token=None)
    assert missing.status_code == 401
    assert "no bearer token" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    bad = seeded.get("/api/v1/runs", token="forged")
    assert bad.status_code == 401
    assert "did not accept this token" in bad.json()["detail"]


def test_health_metrics_and_docs_without_a_cdn(seeded: Harness) -> None:
    assert seeded.get("/healthz", token=None).json() == {"status": "ok"}
    ready = seeded.get("/readyz", token=None).json()
    assert ready["schema"] == ready["head"] == head_revision()
    seeded.get("/api/v1/runs")
    metrics = seeded.get("/metrics", token=None).text
    assert 'llmload_results_requests_total{code="200",method="GET",route="/api/v1/runs"} 1.0' in metrics
    assert 'llmload_results_reviews_total{kind="token"} 1.0' in metrics
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = seeded.get(page, token=None).text
        assert f"/docs-assets/{asset}" in html
        assert "cdn" not in html.lower()
        assert "fonts.googleapis" not in html
        script = seeded.get(f"/docs-assets/{asset}", token=None)
        assert script.status_code == 200
        assert len(script.content) > 100_000
    schema = seeded.get("/openapi.json", token=None).json()
    assert {"/api/v1/runs", "/api/v1/compare", "/api/v1/leaderboard"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_list_is_scoped_to_readable_namespaces(seeded: Harness) -> None:
    assert refs(seeded.ok("/api/v1/runs")) == [
        "team-b/rate:0", "team-b/sweep:0", "team-a/other:0", "team-a/sweep:1", "team-a/sweep:0",
    ]  # fmt: skip
    assert refs(seeded.ok("/api/v1/runs", "token-alice")) == [
        "team-a/other:0",
        "team-a/sweep:1",
        "team-a/sweep:0",
    ]
    assert refs(seeded.ok("/api/v1/runs", "token-bob")) == ["team-b/rate:0", "team-b/sweep:0"]
    refused = seeded.get("/api/v1/runs", "token-bob", namespace="team-a")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "bob may not get loadtests.llmload.io in namespace 'team-a': that right is needed here"
    )


def test_filters(seeded: Harness) -> None:
    assert refs(seeded.ok("/api/v1/runs", model="mistral")) == ["team-a/other:0"]
    assert refs(seeded.ok("/api/v1/runs", outcome="Failed")) == ["team-a/other:0"]
    assert refs(seeded.ok("/api/v1/runs", name="sweep", namespace="team-a")) == [
        "team-a/sweep:1",
        "team-a/sweep:0",
    ]
    assert refs(seeded.ok("/api/v1/runs", target="service/vllm:8000", namespace="team-b")) == [
        "team-b/rate:0",
        "team-b/sweep:0",
    ]
    since = (T0 + timedelta(days=1)).isoformat()
    until = (T0 + timedelta(days=3)).isoformat()
    assert refs(seeded.ok("/api/v1/runs", since=since, until=until)) == ["team-a/other:0", "team-a/sweep:1"]
    hours = int((NOW - (T0 + timedelta(days=3, hours=12))).total_seconds() // 3600)
    assert refs(seeded.ok("/api/v1/runs", since=f"{hours}h")) == ["team-b/rate:0"]
    for params, message in (
        ({"outcome": "Done"}, "outcome='Done': use one of"),
        ({"since": "yesterday"}, "since='yesterday': use an RFC 3339 time"),
        ({"limit": 0}, "limit=0: use 1 to 500"),
        ({"namespace": "Team_A"}, "not a Kubernetes name"),
    ):
        response = seeded.get("/api/v1/runs", **params)
        assert response.status_code == 400, params
        assert message in response.json()["detail"]


def test_pages_with_continue(seeded: Harness) -> None:
    seen: list[str] = []
    token, pages = None, 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"continue": token} if token else {})
        body = seeded.ok("/api/v1/runs", **params)
        seen += refs(body)
        pages += 1
        token = body["continue"]
        if token is None:
            break
    assert pages == 3
    assert seen == refs(seeded.ok("/api/v1/runs"))
    first = seeded.ok("/api/v1/runs", limit=2)
    other_query = seeded.get("/api/v1/runs", limit=2, model="llama", **{"continue": first["continue"]})
    assert other_query.status_code == 400
    assert "other filters" in other_query.json()["detail"]


def test_one_run_with_levels_and_spec(seeded: Harness) -> None:
    newest = seeded.ok("/api/v1/namespaces/team-a/runs/sweep", "token-alice")
    assert newest["ref"] == "team-a/sweep:1"
    first = seeded.ok("/api/v1/namespaces/team-a/runs/sweep", "token-alice", runId=0)
    assert first["spec"]["load"]["requestsPerLevel"] == 1000
    assert [lv["level"] for lv in first["levels"]] == [1, 4]
    four = first["levels"][1]
    assert four["figures"]["ttft_mean_ms"] == 200.0
    assert four["result"]["ttft"]["stddev"] == 10.0
    assert first["gpus"] == 1
    assert seeded.get("/api/v1/namespaces/team-a/runs/sweep", "token-bob").status_code == 403
    missing = seeded.get("/api/v1/namespaces/team-a/runs/nothing")
    assert missing.status_code == 404
    assert "no stored run of LoadTest team-a/nothing" in missing.json()["detail"]


def test_compare_maths(seeded: Harness) -> None:
    body = seeded.ok("/api/v1/compare", "token-alice", run=["team-a/sweep:0", "team-a/sweep:1"])
    assert body["runs"] == ["team-a/sweep:0", "team-a/sweep:1"]
    by = {(lv["level"], m["metric"]): m for lv in body["levels"] for m in lv["metrics"]}
    (mean4,) = by[(4, "ttft_mean_ms")]["changes"]
    assert by[(4, "ttft_mean_ms")]["baseline"] == 200.0
    assert (mean4["value"], mean4["absolute"], mean4["percent"]) == (260.0, 60.0, pytest.approx(30.0))
    # Welch: se = sqrt(100/1000 * 2) = 0.447; t = 134; p ~ 0.
    assert (mean4["test"], mean4["verdict"]) == ("welch_t", "worse")
    assert mean4["pValue"] < 1e-10
    (mean1,) = by[(1, "ttft_mean_ms")]["changes"]
    # 1 ms on sd 10 ms, n = 1000 each: t = 2.236, p = 0.0255: beyond the noise, but 1 % < 5 %.
    assert mean1["pValue"] == pytest.approx(0.0255, abs=0.001)
    assert mean1["verdict"] == "too small to matter"
    assert body["minChangePercent"] == 5.0
    strict = seeded.ok("/api/v1/compare", run=["team-a/sweep:0", "team-a/sweep:1"], minChange=0.5,
                       metric="ttft_mean_ms")  # fmt: skip
    assert strict["levels"][0]["metrics"][0]["changes"][0]["verdict"] == "worse"
    negative = seeded.get("/api/v1/compare", run=["team-a/sweep:0", "team-a/sweep:1"], minChange=-1)
    assert negative.status_code == 422
    (goodput,) = by[(4, "goodput_percent")]["changes"]
    assert (goodput["absolute"], goodput["test"], goodput["verdict"]) == (
        pytest.approx(-10.0),
        "two_proportion_z",
        "worse",
    )
    only = seeded.ok("/api/v1/compare", run=["team-a/sweep:0", "team-a/sweep:1"], metric="ttft_p90_ms")
    assert {m["metric"] for lv in only["levels"] for m in lv["metrics"]} == {"ttft_p90_ms"}
    across = seeded.get("/api/v1/compare", "token-alice", run=["team-a/sweep:0", "team-b/sweep:0"])
    assert across.status_code == 403
    assert "namespace 'team-b'" in across.json()["detail"]
    assert seeded.get("/api/v1/compare", run=["team-a/sweep:0"]).status_code == 400
    mixed = seeded.ok("/api/v1/compare", run=["team-b/sweep", "team-b/rate"])
    assert any("Rate mode" in w for w in mixed["warnings"])


def test_leaderboard_order(seeded: Harness) -> None:
    seed(seeded.engine, "c1", "team-b", "big", started=T0 + timedelta(days=5),
         levels=(Lv(4, ttft_mean=150.0, otps=2000.0, gpus=4, joules=120.0),))  # fmt: skip
    board = seeded.ok("/api/v1/leaderboard", metric="ttft_p90_ms", level=4)
    # Failed runs are left out by default (outcome=Succeeded).
    assert [i["run"] for i in board["items"]] == [
        "team-b/big:0", "team-b/rate:0", "team-b/sweep:0", "team-a/sweep:0", "team-a/sweep:1",
    ]  # fmt: skip
    assert [i["value"] for i in board["items"]] == [225.0, 300.0, 300.0, 300.0, 390.0]
    per_gpu = seeded.ok("/api/v1/leaderboard", metric="output_tokens_per_s_per_gpu", namespace="team-b")
    assert [(i["run"], i["value"]) for i in per_gpu["items"]] == [
        ("team-b/big:0", 500.0), ("team-b/rate:0", 500.0), ("team-b/sweep:0", 500.0),
    ]  # fmt: skip
    energy = seeded.ok("/api/v1/leaderboard", metric="joules_per_1k_output_tokens")
    assert [i["run"] for i in energy["items"]] == ["team-b/big:0"]
    assert len(energy["excluded"]) == 4
    cost = seeded.ok("/api/v1/leaderboard", metric="cost_per_1m_output_tokens", pricePerGpuHour=3.6, level=4)
    assert cost["items"][0]["value"] == pytest.approx(2.0)  # 1 GPU at 500 tok/s, 0.001 per GPU-second
    by_model = seeded.ok("/api/v1/leaderboard", metric="goodput_per_s", by="model", outcome="")
    assert [i["model"] for i in by_model["items"]] == ["llama", "mistral"]
    alice = seeded.ok("/api/v1/leaderboard", "token-alice", metric="goodput_per_s")
    assert {i["namespace"] for i in alice["items"]} == {"team-a"}
    needs_level = seeded.get("/api/v1/leaderboard", metric="ttft_p90_ms")
    assert needs_level.status_code == 400
    assert "needs a level" in needs_level.json()["detail"]


def test_exports_read_back(seeded: Harness) -> None:
    response = seeded.get("/api/v1/namespaces/team-a/runs/sweep/export", "token-alice", runId=0, format="csv")
    assert response.headers["content-disposition"] == 'attachment; filename="sweep-0.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["level"], r["ttft_mean_ms"], r["goodput_percent"]) for r in rows] == [
        ("1", "100.0", "90.0"),
        ("4", "200.0", "90.0"),
    ]
    assert rows[0]["namespace"] == "team-a"
    xlsx = seeded.get("/api/v1/namespaces/team-a/runs/sweep/export", runId=0, format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)["levels"]
    table = list(sheet.iter_rows(values_only=True))
    header = list(table[0])
    assert table[2][header.index("ttft_mean_ms")] == 200.0
    assert table[1][header.index("level")] == 1
    assert "output_tokens_per_s" in header
    as_json = seeded.get("/api/v1/namespaces/team-a/runs/sweep/export", runId=0, format="json").json()
    assert as_json["levels"][1]["figures"]["ttft_mean_ms"] == 200.0
    comparison = seeded.get(
        "/api/v1/compare/export",
        run=["team-a/sweep:0", "team-a/sweep:1"],
        metric="ttft_mean_ms",
        format="xlsx",
    )
    rows_x = list(
        openpyxl.load_workbook(io.BytesIO(comparison.content))["comparison"].iter_rows(values_only=True)
    )
    head = list(rows_x[0])
    four = next(r for r in rows_x[1:] if r[head.index("level")] == 4)
    assert (
        four[head.index("baseline_value")],
        four[head.index("value")],
        four[head.index("change_absolute")],
    ) == (200.0, 260.0, 60.0)
    assert four[head.index("verdict")] == "worse"
    compared_csv = seeded.get(
        "/api/v1/compare/export", run=["team-a/sweep:0", "team-a/sweep:1"], metric="ttft_mean_ms"
    )
    assert [r["change_percent"] for r in csv.DictReader(io.StringIO(compared_csv.text))] == ["1.0", "30.0"]
    assert seeded.get("/api/v1/namespaces/team-a/runs/sweep/export", format="pdf").status_code == 400


def count(harness: Harness, model: type[Run] | type[LevelResultRow] | type[RunLabelRow]) -> int:
    with harness.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def test_purge(seeded: Harness) -> None:
    refused = seeded.call("DELETE", "/api/v1/namespaces/team-b/runs/sweep", "token-bob")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "bob may not delete loadtests.llmload.io in namespace 'team-b': that right is needed here"
    )
    one = seeded.call("DELETE", "/api/v1/namespaces/team-a/runs/sweep", "token-alice", runId=1)
    assert one.json() == {"deleted": ["team-a/sweep:1"], "count": 1}
    assert count(seeded, Run) == 4
    assert count(seeded, LevelResultRow) == 8
    # alice may delete in team-a only: the older runs of team-b stay, and the answer says one was skipped.
    older = seeded.call(
        "DELETE", "/api/v1/runs", "token-alice", olderThan=(T0 + timedelta(days=3, hours=1)).isoformat()
    )
    assert older.json()["count"] == 2
    assert older.json()["namespacesSkipped"] == 1
    assert refs(seeded.ok("/api/v1/runs")) == ["team-b/rate:0", "team-b/sweep:0"]
    assert seeded.call("DELETE", "/api/v1/runs", "token-bob", olderThan="1d").status_code == 403
    assert seeded.call("DELETE", "/api/v1/runs", olderThan="1d").json()["count"] == 2
    assert count(seeded, LevelResultRow) == 0
    assert seeded.call("DELETE", "/api/v1/runs").status_code == 422  # olderThan is required


def test_reviews_are_bounded_and_cached(seeded: Harness) -> None:
    seeded.ok("/api/v1/runs", "token-reader")
    # One cluster-wide question, then one per namespace holding runs.
    assert seeded.authz.reviews == 3
    assert {a.namespace for a in seeded.rights.asked} == {"", "team-a", "team-b"}
    seeded.ok("/api/v1/runs", "token-reader")
    seeded.ok("/api/v1/runs", "token-reader", model="llama")
    assert seeded.authz.reviews == 3
    assert seeded.tokens.calls == 1


def test_access_log_is_json_with_request_id_and_user_and_no_token(
    seeded: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmload.results.access")
    given = seeded.client.get(
        "/api/v1/runs", headers={"Authorization": "Bearer token-alice", "X-Request-ID": "req-42"}
    )
    generated = seeded.client.get("/api/v1/runs", headers={"Authorization": "Bearer token-bob"})
    assert given.headers["X-Request-ID"] == "req-42"
    assert len(generated.headers["X-Request-ID"]) == 32
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "llmload.results.access"]
    assert [(line["requestId"], line["user"], line["status"]) for line in lines] == [
        ("req-42", "alice", 200),
        (generated.headers["X-Request-ID"], "bob", 200),
    ]
    assert lines[0]["route"] == "/api/v1/runs"
    assert "token-alice" not in caplog.text
    assert "token-bob" not in caplog.text


def test_recommendations_with_their_search_trace(seeded: Harness) -> None:
    row = RecommendationRow(
        uid="r1", namespace="team-a", name="size", target="service/vllm:8000", deployment="vllm",
        mode="Concurrency", knee_level=4, replicas=3, total_gpus=3,
        children=[
            {"name": "size-l1", "loadtestUid": "a1", "runId": 0, "level": 1, "repeat": 0},
            {"name": "size-l4", "loadtestUid": "a1", "runId": 1, "level": 4, "repeat": 0},
            {"name": "size-l8", "loadtestUid": "gone", "runId": 0, "level": 8, "repeat": 0},
        ],
        spec={"target": {}}, created_at=T0, updated_at=T0,
    )  # fmt: skip
    save_recommendation(seeded.engine, row)
    listed = seeded.ok("/api/v1/recommendations", "token-alice")
    assert [(i["namespace"], i["name"], i["replicas"]) for i in listed["items"]] == [("team-a", "size", 3)]
    assert seeded.ok("/api/v1/recommendations", "token-bob")["items"] == []
    one = seeded.ok("/api/v1/namespaces/team-a/recommendations/size", "token-alice")
    trace = one["searchTrace"]
    assert [(t["level"], t["outcome"], t["goodputPercent"]) for t in trace] == [
        (1, "Succeeded", 90.0), (4, "Succeeded", 80.0), (8, None, None),
    ]  # fmt: skip
    assert trace[1]["ttftP90Ms"] == 390.0
    assert seeded.get("/api/v1/namespaces/team-a/recommendations/size", "token-bob").status_code == 403


LABELLED = {
    "l1": {"app": "vllm", "tier": "prod", "example.com/team": "a"},
    "l2": {"app": "vllm", "tier": "staging"},
    "l3": {"app": "tgi"},
    "l4": {},
}
SELECTORS = (
    "app=vllm", "app!=vllm", "tier in (prod,staging)", "tier notin (prod)", "tier", "!tier",
    "app=vllm,!example.com/team", "example.com/team=a,tier==prod", "app in (tgi),tier",
)  # fmt: skip


def test_label_selectors_match_as_kubectl_does(harness: Harness) -> None:
    for i, (uid, labels) in enumerate(LABELLED.items()):
        seed(harness.engine, uid, "team-a", f"run-{uid}", started=T0 + timedelta(hours=i), labels=labels)
    every = harness.ok("/api/v1/runs")["items"]
    assert {i["name"]: i["labels"] for i in every} == {f"run-{u}": lb for u, lb in LABELLED.items()}
    for text in SELECTORS:
        # The project's matcher is the oracle: the SQL must select exactly the runs it matches.
        expected = {
            f"team-a/run-{u}:0" for u, lb in LABELLED.items() if selector_matches(parse_selector(text), lb)
        }
        assert set(refs(harness.ok("/api/v1/runs", labelSelector=text))) == expected, text
    assert refs(harness.ok("/api/v1/runs", "token-alice", labelSelector="tier=prod")) == ["team-a/run-l1:0"]
    # A page token is bound to its selector.
    first = harness.ok("/api/v1/runs", labelSelector="app", limit=1)
    other = harness.get("/api/v1/runs", labelSelector="tier", limit=1, **{"continue": first["continue"]})
    assert other.status_code == 400
    board = harness.ok("/api/v1/leaderboard", metric="goodput_per_s", labelSelector="app=vllm")
    assert {i["name"] for i in board["items"]} == {"run-l1", "run-l2"}
    bad = harness.get("/api/v1/runs", labelSelector="tier in (prod")
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("labelSelector='tier in (prod': unbalanced parentheses")
    assert "e.g. app=vllm" in bad.json()["detail"]
    assert harness.get("/api/v1/leaderboard", metric="goodput_per_s", labelSelector="a>1").status_code == 400
    # The labels are rewritten with the run, and go with it.
    seed(harness.engine, "l1", "team-a", "run-l1", labels={"app": "moved"})
    assert refs(harness.ok("/api/v1/runs", labelSelector="tier=prod")) == []
    assert harness.call("DELETE", "/api/v1/namespaces/team-a/runs/run-l1").status_code == 200
    assert count(harness, RunLabelRow) == 3  # l2's two labels and l3's one
    assert harness.call("DELETE", "/api/v1/runs", olderThan="1d").json()["count"] == 3
    assert count(harness, RunLabelRow) == 0


OLD_UID, NEW_UID = "0a1b2c3d-0000-4000-8000-000000000001", "9f8e7d6c-0000-4000-8000-000000000002"


def test_a_name_reused_by_a_new_loadtest_is_told_apart_by_its_uid(harness: Harness) -> None:
    seed(harness.engine, OLD_UID, "team-a", "demo", started=T0)
    seed(harness.engine, NEW_UID, "team-a", "demo", started=T0 + timedelta(days=1),
         levels=(Lv(1, ttft_mean=150.0), Lv(4)))  # fmt: skip
    seed(harness.engine, NEW_UID, "team-a", "demo", run_id=1, started=T0 + timedelta(days=2))
    items = harness.ok("/api/v1/runs")["items"]
    assert [i["uniqueRef"] for i in items] == [
        "team-a/demo:1",
        "team-a/demo:0@9f8e7d6c",
        "team-a/demo:0@0a1b2c3d",
    ]
    assert [i["uid"] for i in items] == [NEW_UID, NEW_UID, OLD_UID]
    # Each unique ref addresses its run: in one-run reads, compare, export and purge.
    old = harness.ok("/api/v1/namespaces/team-a/runs/demo", runId=0, uid="0a1b2c3d")
    assert (old["uid"], old["uniqueRef"]) == (OLD_UID, "team-a/demo:0@0a1b2c3d")
    assert harness.ok("/api/v1/namespaces/team-a/runs/demo", runId=0)["uid"] == NEW_UID  # the newest
    body = harness.ok(
        "/api/v1/compare", run=["team-a/demo:0@0a1b2c3d", "team-a/demo:0@9f8e"], metric="ttft_mean_ms"
    )
    assert body["runs"] == ["team-a/demo:0@0a1b2c3d", "team-a/demo:0@9f8e7d6c"]
    assert body["levels"][0]["metrics"][0]["changes"][0]["absolute"] == 50.0
    exported = harness.get("/api/v1/namespaces/team-a/runs/demo/export", runId=0, uid="0a1b")
    assert {r["loadtest_uid"] for r in csv.DictReader(io.StringIO(exported.text))} == {OLD_UID}
    missing = harness.get("/api/v1/namespaces/team-a/runs/demo", runId=0, uid="ffff")
    assert missing.status_code == 404
    assert "no stored run of LoadTest team-a/demo:0@ffff" in missing.json()["detail"]
    seed(
        harness.engine,
        "0a1b9999-0000-4000-8000-000000000003",
        "team-a",
        "demo",
        started=T0 - timedelta(days=1),
    )
    ambiguous = harness.get("/api/v1/compare", run=["team-a/demo:0@0a1b", "team-a/demo:1"])
    assert ambiguous.status_code == 400
    assert "the uid prefix matches 2 LoadTests" in ambiguous.json()["detail"]
    assert harness.get("/api/v1/namespaces/team-a/runs/demo", uid="XY").status_code == 400  # not hex
    gone = harness.call("DELETE", "/api/v1/namespaces/team-a/runs/demo", runId=0, uid="0a1b2c3d")
    assert gone.json()["deleted"] == ["team-a/demo:0@0a1b2c3d"]
    assert [i["uid"] for i in harness.ok("/api/v1/runs", name="demo")["items"]][-1].startswith("0a1b9999")


def test_exported_cells_never_become_formulas(harness: Harness) -> None:
    seed(harness.engine, "x1", "team-a", "sweep", model='=HYPERLINK("http://127.0.0.1/","x")')
    response = harness.get("/api/v1/namespaces/team-a/runs/sweep/export", format="csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["model"] for r in rows} == {'\'=HYPERLINK("http://127.0.0.1/","x")'}
    assert [r["ttft_mean_ms"] for r in rows] == ["100.0", "200.0"]
    xlsx = harness.get("/api/v1/namespaces/team-a/runs/sweep/export", format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["levels"]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(2, header.index("model") + 1)
    assert (cell.data_type, cell.value) == ("s", '=HYPERLINK("http://127.0.0.1/","x")')
    assert sheet.cell(2, header.index("ttft_mean_ms") + 1).data_type == "n"
    assert list_runs(harness.engine)[0].model == '=HYPERLINK("http://127.0.0.1/","x")'  # stored as given
