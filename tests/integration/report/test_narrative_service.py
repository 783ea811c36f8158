"""The AI narrative from the results service (uvicorn on 127.0.0.1) against the project's mock OpenAI
server (its own process on 127.0.0.1), and against an endpoint that is down, slow, failing or answering
garbage: the report always comes whole, the narrative's failure is one `error` event, and `llmload report
--narrative` prints the report, then the narrative or one line saying why there is none."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from loadtest_operator.cli import main
from loadtest_operator.io.narrative import Endpoint
from loadtest_operator.report.narrative import NOTICE, Event, parse_events
from tests.integration.loadgen.conftest import mock_process
from tests.integration.report.conftest import NAMESPACE, Served, free_port

pytestmark = pytest.mark.integration

MODEL = "narrator"
NARRATIVE = f"/api/v1/namespaces/{NAMESPACE}/runs/dash/narrative"
SECRET = "sk-test-never-shown-0123456789"


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with mock_process("--model", MODEL, "--eos-after-tokens", "40", "--itl-ms", "2") as url:
        yield url


def events(served: Served, path: str = NARRATIVE, token: str = "token-alice") -> list[Event]:
    with httpx.stream(
        "GET", served.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        return list(parse_events(r.iter_lines()))


def data(event: Event) -> dict[str, object]:
    body: dict[str, object] = json.loads(event.data)
    return body


def endpoint(url: str, **limits: float) -> Endpoint:
    return Endpoint(url=url, model=MODEL, api_key=SECRET, **limits)  # type: ignore[arg-type]


def report_still_comes(served: Served) -> None:
    answer = httpx.get(served.url + f"/api/v1/namespaces/{NAMESPACE}/runs/dash/report",
                       params={"format": "json"}, headers={"Authorization": "Bearer token-alice"}, timeout=30)  # fmt: skip
    assert answer.status_code == 200
    assert len(answer.json()["findings"]) == 10


def test_the_narrative_streams_after_a_start_event_marked_as_generated(
    served: Served, mock_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    served.narrate(endpoint(mock_url))
    with caplog.at_level(logging.INFO):
        got = events(served)
    names = [e.name for e in got]
    assert (names[0], names[-1]) == ("start", "end"), names
    assert set(names[1:-1]) == {"delta"}
    assert len(names) > 3
    start = data(got[0])
    assert start["model"] == MODEL
    assert start["notice"] == NOTICE
    assert start["generated"] is True
    assert start["stored"] is False
    prompt = start["prompt"]
    assert isinstance(prompt, dict)
    assert "```json" in prompt["messages"][1]["content"]
    text = "".join(str(data(e)["text"]) for e in got[1:-1])
    end = data(got[-1])
    assert end["chars"] == len(text) > 0
    assert end["finishReason"] == "length"  # the mock ends every answer with finish_reason "length"
    stream_text = "".join(e.data for e in got)
    assert SECRET not in stream_text
    assert SECRET not in caplog.text
    logged = [json.loads(r.getMessage()) for r in caplog.records if '"event": "narrative"' in r.getMessage()]
    assert logged
    assert logged[-1]["outcome"] == "length"
    assert logged[-1]["promptSha256"] == prompt["sha256"]
    # A recommendation's narrative too, on the same events.
    rec = events(served, f"/api/v1/namespaces/{NAMESPACE}/recommendations/sizing/narrative")
    assert [rec[0].name, rec[-1].name] == ["start", "end"]


def test_the_narrative_is_capped_in_size(served: Served, mock_url: str) -> None:
    served.narrate(endpoint(mock_url, max_chars=100))
    got = events(served)
    end = data(got[-1])
    assert (got[-1].name, end["finishReason"], end["chars"]) == ("end", "sizeCap", 100)
    assert sum(len(str(data(e)["text"])) for e in got if e.name == "delta") == 100


@pytest.mark.parametrize(
    ("flags", "limits", "reason"),
    [
        (None, {}, "cannot connect to http://127.0.0.1:"),
        (
            ("--fault", "hang"),
            {"first_token_seconds": 1.0},
            "no answer within 1 s (the model is slow or stuck)",
        ),
        (
            ("--itl-ms", "400"),
            {"total_seconds": 1.5},
            "not finished within 1.5 s (the model is slow or stuck)",
        ),
        (("--error-rate", "1"), {}, "answered HTTP 500"),
        (("--fault", "malformed-chunk"), {}, "sent something that is not JSON"),
    ],
    ids=["down", "no-first-token", "too-slow", "http-500", "garbage"],
)
def test_a_failing_endpoint_is_one_error_line_and_the_report_still_comes(
    served: Served, flags: tuple[str, ...] | None, limits: dict[str, float], reason: str
) -> None:
    if flags is None:
        served.narrate(endpoint(f"http://127.0.0.1:{free_port()}", **limits))
        got = events(served)
    else:
        with mock_process("--model", MODEL, "--eos-after-tokens", "40", *flags) as url:
            served.narrate(endpoint(url, **limits))
            got = events(served)
    assert got[0].name == "start"
    assert got[-1].name == "error", [e.name for e in got]
    error = data(got[-1])
    assert reason in str(error["reason"]), error
    assert "\n" not in str(error["reason"])
    assert SECRET not in str(error["reason"])
    report_still_comes(served)


def test_the_narrative_is_off_unless_configured(served: Served) -> None:
    served.narrate(None)
    off = httpx.get(served.url + NARRATIVE, headers={"Authorization": "Bearer token-alice"}, timeout=10)
    assert off.status_code == 404
    assert "the AI narrative is off" in off.json()["detail"]
    denied = httpx.get(served.url + NARRATIVE, headers={"Authorization": "Bearer token-bob"}, timeout=10)
    assert denied.status_code == 403  # rights first: the narrative says nothing of a run one may not read
    report_still_comes(served)


def test_llmload_report_narrative_prints_the_report_then_the_narrative(
    served: Served, mock_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    served.narrate(endpoint(mock_url))
    args = ["report", "dash", "-n", NAMESPACE, "--url", served.url, "--token", "token-alice"]
    assert main([*args, "--narrative"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"# Run report: LoadTest {NAMESPACE}/dash\n")
    report, _, narrative = out.partition("\n## AI narrative\n")
    assert "## Levels" in report
    assert NOTICE in narrative
    assert f"Model: {MODEL}" in narrative
    assert "not stored" in narrative
    assert len(narrative.strip().splitlines()) >= 2
    assert err == "llmload report: the narrative was cut off (length)\n"  # the mock's finish_reason

    served.narrate(endpoint(f"http://127.0.0.1:{free_port()}"))
    assert main([*args, "--narrative"]) == 0
    out, err = capsys.readouterr()
    assert "## Levels" in out
    assert err.startswith("llmload report: no AI narrative: cannot connect to http://127.0.0.1:")
    assert len(err.splitlines()) == 1


def test_llmload_report_stored_and_when_the_object_is_gone(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "dash", "-n", NAMESPACE, "--stored", "--url", served.url, "--token", "token-alice",
                 "-o", "json"]) == 0  # fmt: skip
    body = json.loads(capsys.readouterr().out)
    assert body["facts"]["source"].startswith("the results store (runId 0")
    assert main(["report", "sizing", "-k", "caprec", "-n", NAMESPACE, "--stored", "--url", served.url,
                 "--token", "token-alice"]) == 0  # fmt: skip
    assert "## Search trace" in capsys.readouterr().out

    from loadtest_operator import report_cli

    parser = __import__("argparse").ArgumentParser()
    report_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["report", "dash", "-n", NAMESPACE, "--url", served.url, "--token", "token-alice"]
    )
    out = report_cli.run(args, fetch_loadtest=lambda n, ns: None, fetch_capacity=lambda n, ns: None)
    assert out.startswith(f"# Run report: LoadTest {NAMESPACE}/dash\n")
    assert "reporting the run the results service stored" in capsys.readouterr().err

    with pytest.raises(SystemExit, match=r"llmload report: HTTP 403: bob may not"):
        main(["report", "dash", "-n", NAMESPACE, "--stored", "--url", served.url, "--token", "token-bob"])
