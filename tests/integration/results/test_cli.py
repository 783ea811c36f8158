"""`llmload history|compare|export|leaderboard|purge` against the real service (uvicorn on 127.0.0.1, a
real store; TokenReview/SAR stood in for as in conftest.py)."""

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from loadtest_operator.cli import main
from loadtest_operator.io.store import upgrade
from loadtest_operator.results.app import Service, create_app
from loadtest_operator.results.authz import Authorizer
from tests.integration.results.conftest import NOW, RIGHTS, T0, USERS, FakeRights, FakeTokens, Lv, seed

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def url(sqlite_engine: Engine) -> Iterator[str]:
    upgrade(sqlite_engine)
    seed(sqlite_engine, "a1", "team-a", "base", started=T0)
    seed(
        sqlite_engine,
        "a2",
        "team-a",
        "next",
        started=T0.replace(day=21),
        levels=(Lv(1, ttft_mean=150.0), Lv(4)),
    )
    seed(sqlite_engine, "b1", "team-b", "theirs", started=T0.replace(day=22))
    service = Service(
        engine=sqlite_engine, authz=Authorizer(FakeTokens(USERS), FakeRights(RIGHTS)), now=lambda: NOW
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        service.calls.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_history_tables_and_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "history", "--url", url, "--token", "token-alice")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "RUN",
        "UID",
        "OUTCOME",
        "MODEL",
        "TARGET",
        "MODE",
        "STARTED",
        "(UTC)",
        "BEST",
        "LEVEL",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["team-a/next:0", "team-a/base:0"]
    code, out, _ = run(capsys, "history", "--url", url, "--token", "token-bob", "-o", "json")
    assert [i["ref"] for i in json.loads(out)["items"]] == ["team-b/theirs:0"]
    # More than a page: the CLI follows the continue tokens.
    code, out, _ = run(
        capsys, "history", "--url", url, "--token", "token-admin", "--limit", "2", "-o", "yaml"
    )
    assert out.count("ref: ") == 2
    code, _, err = run(capsys, "history", "--url", url, "--token", "nope")
    assert code == 1
    assert "HTTP 401" in err


def test_compare_prints_the_deltas(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "compare", "team-a/base", "team-a/next", "--url", url, "--token", "token-alice"
    )
    assert code == 0, err
    assert out.startswith("level 1\n")
    ttft = next(line for line in out.splitlines() if line.startswith("TTFT p50 (ms)"))
    # 100 -> 150 ms, sd 10 ms over 1000 samples each: far beyond the noise.
    assert ttft.split()[3:7] == ["100.00", "150.00", "+50.00", "(+50.0%)"]
    assert "worse p=" in ttft
    assert "Welch's t-test" in out
    code, out, _ = run(capsys, "compare", "base", "next", "-n", "team-a", "--metric", "ttft_mean_ms",
                       "-o", "json", "--url", url, "--token", "token-alice")  # fmt: skip
    (change,) = json.loads(out)["levels"][0]["metrics"][0]["changes"]
    assert (change["absolute"], change["verdict"]) == (50.0, "worse")
    code, _, err = run(
        capsys, "compare", "team-a/base", "team-b/theirs", "--url", url, "--token", "token-alice"
    )
    assert code == 1
    assert "may not get loadtests.llmload.io in namespace 'team-b'" in err


def test_export_files(url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "base.xlsx"
    code, _, err = run(
        capsys,
        "export",
        "team-a/base",
        "--format",
        "xlsx",
        "-o",
        str(target),
        "--url",
        url,
        "--token",
        "token-alice",
    )
    assert code == 0, err
    rows = list(openpyxl.load_workbook(target)["levels"].iter_rows(values_only=True))
    assert [r[rows[0].index("level")] for r in rows[1:]] == [1, 4]
    code, out, _ = run(
        capsys, "export", "team-a/base", "--format", "csv", "--url", url, "--token", "token-alice"
    )
    assert [r["ttft_mean_ms"] for r in csv.DictReader(io.StringIO(out))] == ["100.0", "200.0"]
    code, _, err = run(
        capsys, "export", "team-a/base", "--format", "xlsx", "--url", url, "--token", "token-alice"
    )
    assert code == 1
    assert "needs a file" in err
    both = tmp_path / "both.csv"
    code, _, _ = run(
        capsys,
        "export",
        "team-a/base",
        "team-a/next",
        "-o",
        str(both),
        "--url",
        url,
        "--token",
        "token-alice",
    )
    assert code == 0
    assert "change_percent" in both.read_text().splitlines()[0]


def test_leaderboard_and_purge(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "leaderboard",
        "--metric",
        "ttft_p90_ms",
        "--level",
        "1",
        "--url",
        url,
        "--token",
        "token-admin",
    )
    assert code == 0
    assert [line.split()[3] for line in out.splitlines()[2:]] == [
        "team-b/theirs:0",
        "team-a/base:0",
        "team-a/next:0",
    ]
    code, _, err = run(capsys, "purge", "team-b/theirs", "--url", url, "--token", "token-bob")
    assert code == 1
    assert "bob may not delete loadtests.llmload.io in namespace 'team-b'" in err
    code, out, _ = run(capsys, "purge", "team-a/base", "--url", url, "--token", "token-alice")
    assert (code, out.strip()) == (0, "deleted team-a/base:0")
    code, out, _ = run(capsys, "purge", "--older-than", "1d", "--url", url, "--token", "token-alice")
    assert out.strip() == (
        "deleted 1 run(s) started before 2026-12-01T12:00:00+00:00; 1 namespace(s) skipped where you may not delete loadtests"
    )
    code, _, err = run(capsys, "purge", "--url", url, "--token", "token-alice")
    assert code == 1
    assert "RUN... or --older-than" in err


def test_history_by_label_and_with_unique_refs(
    url: str, sqlite_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(
        sqlite_engine,
        "5e5e5e5e-0001",
        "team-a",
        "base",
        started=T0.replace(day=23),
        labels={"tier": "nightly"},
    )
    code, out, err = run(capsys, "history", "--url", url, "--token", "token-alice", "-l", "tier=nightly")
    assert code == 0, err
    (_header, row) = out.splitlines()
    # Two LoadTests named base stored runId 0: RUN carries the uid's start, the one to copy.
    assert row.split()[:3] == ["team-a/base:0@5e5e5e5e", "5e5e5e5e", "Succeeded"]
    code, out, _ = run(capsys, "history", "--url", url, "--token", "token-alice", "-l", "!tier")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["team-a/next:0", "team-a/base:0@a1"]
    code, _, err = run(capsys, "history", "--url", url, "--token", "token-alice", "-l", "tier in (x")
    assert code == 1
    assert "HTTP 400: labelSelector='tier in (x': unbalanced parentheses" in err
    code, out, err = run(capsys, "compare", "team-a/base:0@a1", "team-a/base:0@5e5e", "--url", url,
                         "--token", "token-alice", "--metric", "ttft_mean_ms", "--min-change", "0")  # fmt: skip
    assert code == 0, err
    assert "team-a/base:0@a1 (baseline)" in out
    assert "at least 0 % of the baseline" in out


def test_show_reads_the_stored_run_when_the_loadtest_is_gone(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))  # no cluster to ask
    code, out, err = run(capsys, "show", "base", "-n", "team-a", "--url", url, "--token", "token-alice")
    assert code == 0, err
    assert "no LoadTest team-a/base in the cluster (your kubeconfig's); asking the results service" in err
    assert "stored run team-a/base:0" in err
    assert out.startswith("LoadTest team-a/base:")
    assert [line.split()[0] for line in out.splitlines() if line[:1].isdigit()] == ["1", "4"]
    code, out, _ = run(capsys, "show", "team-a/next:0", "--url", url, "--token", "token-alice", "-o", "json")
    assert [lv["level"] for lv in json.loads(out)] == [1, 4]
    assert json.loads(out)[0]["ttft"]["p50"] == 150.0
    code, out, _ = run(capsys, "show", "team-a/next:0", "--url", url, "--token", "token-alice", "-o", "yaml")
    assert out.startswith("- level: 1\n")
    code, _, err = run(capsys, "show", "gone", "-n", "team-a", "--url", url, "--token", "token-alice")
    assert code == 1
    assert "team-a/gone: no LoadTest of that name, no stored run of it (llmload history -n team-a" in err
    code, _, err = run(capsys, "show", "team-b/theirs", "--stored", "--url", url, "--token", "token-alice")
    assert code == 1
    assert "alice may not get loadtests.llmload.io in namespace 'team-b'" in err
