"""The AI narrative's model call: a streamed chat completion from the OpenAI-compatible endpoint the chart
names (`narrative.endpoint`, `narrative.model`; docs/dashboard.md, The AI narrative).

Every read is bounded: a connect deadline, a first-token deadline, a deadline for the whole answer, a cap
on the text kept and on each line of the stream. Whatever goes wrong (the endpoint down, slow, answering
an error or something that is not an OpenAI chat stream) ends the stream with `NarrativeError`, whose
message is one line a person can act on. The API key is sent as a bearer token and never appears in a
message, a log line or an event.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from loadtest_operator.io.fetch import IDENTITY
from loadtest_operator.report.narrative import parse_events

MAX_LINE_BYTES = 64 * 1024  # one event of a chat stream is a few hundred bytes
MAX_ERROR_BYTES = 4096  # of an error answer's body, for its message
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


class NarrativeError(RuntimeError):
    """The narrative could not be written; the message is one line."""


@dataclass(frozen=True)
class Endpoint:
    url: str  # the server's base URL, with or without /v1
    model: str
    api_key: str | None = field(default=None, repr=False)
    connect_seconds: float = 5.0
    first_token_seconds: float = 30.0
    total_seconds: float = 120.0
    max_chars: int = 4000
    max_tokens: int = 600

    @property
    def completions_url(self) -> str:
        base = self.url.rstrip("/")
        return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")

    @property
    def where(self) -> str:
        """The endpoint for messages: scheme, host and port only (no credentials, no path)."""
        url = httpx.URL(self.url)
        return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")

    def limits(self) -> dict[str, Any]:
        return {
            "connectSeconds": self.connect_seconds,
            "firstTokenSeconds": self.first_token_seconds,
            "totalSeconds": self.total_seconds,
            "maxChars": self.max_chars,
            "maxTokens": self.max_tokens,
        }


def one_line(text: str, limit: int = 200) -> str:
    flat = _UNPRINTABLE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body.decode(errors="replace"))
    if isinstance(data, dict):
        inner = data.get("error")
        message = inner.get("message") if isinstance(inner, dict) else inner or data.get("detail")
        if isinstance(message, str):
            return one_line(message)
    return one_line(body.decode(errors="replace"))


class ChatStream:
    """`async for text in ChatStream(endpoint, messages)`: the answer's text as it arrives. After the loop,
    `finish_reason` is the model's (stop, length) or sizeCap when the text reached `max_chars`."""

    def __init__(
        self,
        endpoint: Endpoint,
        messages: Sequence[Mapping[str, str]],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.messages = [dict(m) for m in messages]
        self.transport = transport
        self.finish_reason: str | None = None
        self.chars = 0

    async def __aiter__(self) -> AsyncIterator[str]:
        ep = self.endpoint
        started = time.monotonic()
        timeout = httpx.Timeout(connect=ep.connect_seconds, read=ep.first_token_seconds, write=10.0, pool=5.0)
        headers = {**IDENTITY, "Accept": "text/event-stream"}
        if ep.api_key:
            headers["Authorization"] = f"Bearer {ep.api_key}"
        body = {"model": ep.model, "messages": self.messages, "stream": True, "max_tokens": ep.max_tokens,
                "temperature": 0.2}  # fmt: skip
        async with httpx.AsyncClient(
            transport=self.transport, timeout=timeout, trust_env=False, follow_redirects=False
        ) as client:
            try:
                async with client.stream("POST", ep.completions_url, json=body, headers=headers) as response:
                    await self._check(response)
                    async for text in self._texts(response, started):
                        yield text
            except httpx.ConnectTimeout as exc:
                raise NarrativeError(f"no connection to {ep.where} within {ep.connect_seconds:g} s") from exc
            except httpx.ConnectError as exc:
                raise NarrativeError(f"cannot connect to {ep.where}: {one_line(str(exc))}") from exc
            except httpx.TimeoutException as exc:  # no headers, or a pause between chunks, that long
                raise NarrativeError(
                    f"{ep.where}: no answer within {ep.first_token_seconds:g} s (the model is slow or stuck)"
                ) from exc
            except httpx.HTTPError as exc:
                raise NarrativeError(f"{ep.where} broke off the answer: {one_line(str(exc)) or type(exc).__name__}") from exc  # fmt: skip

    async def _check(self, response: httpx.Response) -> None:
        where = self.endpoint.where
        if response.status_code != 200:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) >= MAX_ERROR_BYTES:
                    break
            raise NarrativeError(
                f"{where} answered HTTP {response.status_code}: {_error_message(bytes(body[:MAX_ERROR_BYTES]))}"
            )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise NarrativeError(f"{where} compressed its answer ({encoding}) though asked not to")
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            raise NarrativeError(
                f"{where} did not stream its answer (Content-Type {one_line(kind, 60) or 'none'})"
            )

    async def _lines(self, response: httpx.Response, started: float) -> AsyncIterator[str]:
        """The stream's lines, each read within the deadline in force (first token, then the whole)."""
        ep = self.endpoint
        chunks = response.aiter_raw().__aiter__()
        pending = b""
        while True:
            elapsed = time.monotonic() - started
            if self.chars == 0:
                wait, what = ep.first_token_seconds - elapsed, f"no text within {ep.first_token_seconds:g} s"
            else:
                wait, what = ep.total_seconds - elapsed, f"not finished within {ep.total_seconds:g} s"
            wait = min(wait, ep.total_seconds - elapsed)
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), timeout=max(wait, 0.0))
            except StopAsyncIteration:
                if pending:
                    yield pending.decode(errors="replace")
                return
            except TimeoutError:
                raise NarrativeError(f"{ep.where}: {what} (the model is slow or stuck)") from None
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE_BYTES:
                raise NarrativeError(f"{ep.where} sent a line over {MAX_LINE_BYTES} bytes: not a chat stream")
            for line in lines:
                yield line.rstrip(b"\r").decode(errors="replace")

    async def _texts(self, response: httpx.Response, started: float) -> AsyncIterator[str]:
        ep = self.endpoint
        lines: list[str] = []
        done = False
        async for line in self._lines(response, started):
            lines.append(line)
            if line:
                continue
            for event in parse_events([*lines, ""]):
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                text = self._delta(event.data)
                if text is not None:
                    room = ep.max_chars - self.chars
                    if len(text) >= room:
                        self.chars += room
                        self.finish_reason = "sizeCap"
                        if room:
                            yield text[:room]
                        return
                    self.chars += len(text)
                    yield text
            lines = []
            if done:
                break
        if not done and self.finish_reason is None:
            raise NarrativeError(f"{ep.where} ended the stream before the answer was complete")
        if self.chars == 0:
            raise NarrativeError(f"{ep.where} answered with no text")

    def _delta(self, data: str) -> str | None:
        """The text of one chunk of OpenAI's chat stream; NarrativeError when it is not one."""
        where = self.endpoint.where
        try:
            chunk = json.loads(data)
        except ValueError:
            raise NarrativeError(f"{where} sent something that is not JSON: {one_line(data, 80)!r}") from None
        if not isinstance(chunk, dict):
            raise NarrativeError(f"{where} sent something that is not a chat completion chunk")
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise NarrativeError(f"{where} reported an error: {one_line(str(message))}")
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise NarrativeError(f"{where} sent a chunk without choices: not an OpenAI chat stream")
        if not choices:
            return None  # e.g. the usage chunk at the end
        choice = choices[0] if isinstance(choices[0], dict) else {}
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) and content else None


__all__ = ["ChatStream", "Endpoint", "NarrativeError", "one_line"]
