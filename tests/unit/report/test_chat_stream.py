"""io/narrative.py's chat stream on answers made up in the test (httpx.MockTransport): what it sends, the
text it keeps, and the one line it gives for each way an answer can be wrong. The real server and the
timeouts are tested against the mock OpenAI server (tests/integration/report/test_narrative_service.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from loadtest_operator.io.narrative import MAX_LINE_BYTES, ChatStream, Endpoint, NarrativeError

KEY = "sk-secret-abc"
MESSAGES = [{"role": "user", "content": "hi"}]


def chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {"role": "assistant"}
    body = {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def sse(*parts: bytes, kind: str = "text/event-stream") -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        # A stream, not content: a Response built with content= is read already, as no server's is.
        return httpx.Response(200, headers={"content-type": kind}, stream=httpx.ByteStream(b"".join(parts)))

    return handler


def error(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, stream=httpx.ByteStream(json.dumps(body).encode()))


def collect(handler: Callable[[httpx.Request], httpx.Response], **limits: object) -> tuple[str, ChatStream]:
    endpoint = Endpoint(url="http://model.test:8000/v1", model="m", api_key=KEY, **limits)  # type: ignore[arg-type]
    stream = ChatStream(endpoint, MESSAGES, transport=httpx.MockTransport(handler))

    async def run() -> str:
        return "".join([text async for text in stream])

    return asyncio.run(run()), stream


def failure(handler: Callable[[httpx.Request], httpx.Response], **limits: object) -> str:
    with pytest.raises(NarrativeError) as caught:
        collect(handler, **limits)
    message = str(caught.value)
    assert "\n" not in message
    assert KEY not in message
    return message


def test_it_sends_the_model_the_messages_and_the_key_and_keeps_the_text() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse(chunk(), chunk("Hello"), chunk(" world"), chunk(finish="stop"), b"data: [DONE]\n\n")(
            request
        )

    text, stream = collect(handler)
    assert (text, stream.finish_reason, stream.chars) == ("Hello world", "stop", 11)
    (request,) = seen
    assert str(request.url) == "http://model.test:8000/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept-encoding"] == "identity"
    body = json.loads(request.content)
    assert (body["model"], body["messages"], body["stream"], body["max_tokens"]) == ("m", MESSAGES, True, 600)
    assert KEY not in repr(stream.endpoint)


def test_the_text_is_cut_at_max_chars() -> None:
    text, stream = collect(sse(chunk("a" * 80), chunk("b" * 80), b"data: [DONE]\n\n"), max_chars=100)
    assert (text, stream.finish_reason) == ("a" * 80 + "b" * 20, "sizeCap")


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (
            lambda r: error(401, {"error": {"message": "bad\nkey"}}),
            "answered HTTP 401: bad key",
        ),
        (lambda r: error(404, {"detail": "no model m"}), "answered HTTP 404: no model m"),
        (
            sse(b'{"choices": []}', kind="application/json"),
            "did not stream its answer (Content-Type application/json)",
        ),
        (sse(b"data: <html>502</html>\n\n"), "sent something that is not JSON: '<html>502</html>'"),
        (sse(b'data: {"object": "x"}\n\n'), "sent a chunk without choices"),
        (sse(b'data: {"error": {"message": "overloaded"}}\n\n'), "reported an error: overloaded"),
        (sse(chunk("half")), "ended the stream before the answer was complete"),
        (sse(chunk(), b"data: [DONE]\n\n"), "answered with no text"),
        (sse(b"data: " + b"x" * (MAX_LINE_BYTES + 10)), f"sent a line over {MAX_LINE_BYTES} bytes"),
    ],
    ids=["401", "404", "not-streamed", "html", "no-choices", "error-event", "cut-off", "empty", "long-line"],
)
def test_each_wrong_answer_is_one_line(
    handler: Callable[[httpx.Request], httpx.Response], reason: str
) -> None:
    message = failure(handler)
    assert message.startswith("http://model.test:8000")
    assert reason in message


def test_an_endpoint_that_refuses_connections() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    assert failure(handler) == "cannot connect to http://model.test:8000: [Errno 111] Connection refused"
