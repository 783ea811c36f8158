"""The hot path: send one request and time its stream with as little work per chunk as possible.

Send and receive times come from the socket hooks in timed_protocol (so a
busy event loop does not delay them). Each received buffer gets one
timestamp; its SSE events are classified with byte checks, and JSON is
parsed only for events those cannot settle (the usage chunk, errors,
unusual spacing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import aiohttp

from loadgen import timed_protocol
from loadgen.config import ResponseLimits
from loadgen.timed_protocol import TimedResponseHandler

_DONE = b"data: [DONE]"
# Error kinds of this module (docs/metrics.md): a response over a ResponseLimits limit, and one that is
# not a well-formed OpenAI answer (broken off, an unparsable or wrongly shaped event, no [DONE], no content).
TOO_LARGE = "response_too_large"
MALFORMED = "malformed_stream"
# The most read of an answer to a side request (/v1/models, /tokenize: a few KiB from vLLM).
SIDE_ANSWER_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class Outcome:
    """Timeline of one request (perf_counter seconds)."""

    sent: float = 0.0
    first_content: float = 0.0
    end: float = 0.0
    # One entry per received buffer that held content events: when, and how many.
    read_times: list[float] = field(default_factory=list)
    read_counts: list[int] = field(default_factory=list)
    content_chunks: int = 0
    usage_output_tokens: int = -1
    usage_prompt_tokens: int = -1
    error: str | None = None
    # Offset of the content marker in this stream's chunks, once seen (-1: not yet).
    marker_at: int = -1


class Target:
    """Where and how to send: the URL, headers, the API's content marker and the response limits."""

    def __init__(
        self,
        base_url: str,
        api: str,
        api_key: str | None,
        stream: bool,
        limits: ResponseLimits,
        max_tokens: int,
    ) -> None:
        self.url = f"{base_url}/v1/chat/completions" if api == "chat" else f"{base_url}/v1/completions"
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.stream = stream
        # vLLM writes compact JSON, so a non-empty content chunk contains exactly this marker
        # followed by something other than the closing quote.
        self.marker = b'"content":"' if api == "chat" else b'"text":"'
        self.max_body_bytes = limits.body_bytes(max_tokens, stream)
        self.max_event_bytes = limits.max_event_bytes
        self.max_error_body_bytes = limits.max_error_body_bytes


async def send(session: aiohttp.ClientSession, target: Target, body: bytes) -> Outcome:
    out = Outcome()
    in_body = False
    out.sent = issued = perf_counter()
    try:
        async with session.post(target.url, data=body, headers=target.headers) as resp:
            in_body = True
            proto = _timed_protocol(resp)
            if proto is not None:
                # The request was really sent when its last bytes went to the socket.
                if proto.last_write >= issued:
                    out.sent = proto.last_write
                if resp.content.total_bytes == 0:
                    proto.arrival = 0.0  # that stamp was the headers' arrival
            if resp.status != 200:
                # Only the head of an error body is read; a longer one is left (its connection closes).
                await read_capped(resp, target.max_error_body_bytes)
                out.error = f"http_{resp.status}"
            elif target.stream:
                await _read_stream(resp, target, out, proto)
            else:
                whole = await read_capped(resp, target.max_body_bytes)
                if whole is None:
                    out.error = TOO_LARGE
                else:
                    _read_whole(whole, out, proto)
    except TimeoutError:
        out.error = "timeout"
    except aiohttp.ClientPayloadError:
        out.error = MALFORMED
    except (aiohttp.ClientError, OSError):
        # Dropped after the response began: the stream is what broke.
        out.error = MALFORMED if in_body else "connection"
    if not out.end or out.error is not None:
        out.end = perf_counter()
    return out


def _timed_protocol(resp: aiohttp.ClientResponse) -> TimedResponseHandler | None:
    conn = resp.connection
    proto = conn.protocol if conn is not None else None
    return proto if isinstance(proto, TimedResponseHandler) else None


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None (the rest unread) as soon as it is known to be longer than `limit` bytes."""
    length = resp.content_length
    if length is not None and length > limit:
        return None
    parts = []
    total = 0
    async for data in resp.content.iter_any():
        total += len(data)
        if total > limit:
            return None
        parts.append(data)
    return b"".join(parts)


async def _read_stream(
    resp: aiohttp.ClientResponse, target: Target, out: Outcome, proto: TimedResponseHandler | None
) -> None:
    """Count the content events of an SSE stream into `out`, read by read, within the size limits.

    At most one incomplete event is held: one longer than `max_event_bytes` (a line can be no longer
    than its event), or a stream longer than `max_body_bytes`, fails the request with
    `response_too_large` and the rest is not read (the connection closes).
    """
    marker = target.marker
    max_event = target.max_event_bytes
    budget = target.max_body_bytes  # bytes the stream may still send
    sep = b"\n\n"
    leftover = b""
    done = False
    read_times = out.read_times
    read_counts = out.read_counts
    arrived = 0.0
    async for data in resp.content.iter_any():
        arrived = perf_counter()
        if proto is not None and proto.arrival:
            arrived = proto.arrival  # when the socket delivered it, not when this task woke
            proto.arrival = 0.0
        budget -= len(data)
        if leftover:
            data = leftover + data
        cut = data.rfind(sep)
        if cut < 0 and b"\r\n\r\n" in data:
            sep = b"\r\n\r\n"
            cut = data.rfind(sep)
        leftover = data if cut < 0 else data[cut + len(sep) :]
        if budget < 0 or len(leftover) > max_event:
            _fail(out, TOO_LARGE)
            return
        if cut < 0:
            continue
        n, block_done = scan_events(data[:cut], sep, marker, out)
        done = done or block_done
        if n:
            if not read_times:
                out.first_content = arrived
            read_times.append(arrived)
            read_counts.append(n)
            out.content_chunks += n
    out.end = arrived
    if not done or not out.content_chunks:
        _fail(out, MALFORMED)  # cut short, or a "successful" reply with no content


def scan_events(block: bytes, sep: bytes, marker: bytes, out: Outcome) -> tuple[int, bool]:
    """Content events and whether [DONE] came, in `block`: complete SSE events joined by `sep`.

    The usual block holds only the shapes vLLM sends (content chunks, empty
    role/finish chunks, one usage chunk, [DONE] last, every other event a
    one-line JSON object ending in `}`), which four byte counts over the block
    settle.
    Anything else is looked at event by event. (An event is trusted without
    parsing when it has the content marker and ends like a JSON object.)
    """
    # Two newlines per separator, more only inside a multi-line event: then `events` comes out too
    # high and the `closed` check (never more than the real number of events) fails. (Counting one
    # byte is about three times faster than counting the two-byte separator.)
    events = block.count(b"\n") / 2 + 1
    content = block.count(marker)
    empty = block.count(marker + b'"') if content else 0
    done = block.endswith(_DONE)
    usage_at = block.rfind(b'"usage"')
    closed = block.count(b"}" + sep) + block.endswith(b"}")  # events that end like a JSON object
    if content + done + (usage_at >= 0) == events and closed + done == events:
        if usage_at >= 0:
            first = block.rfind(sep, 0, usage_at)
            last = block.find(sep, usage_at)
            _slow_event(block[first + len(sep) if first >= 0 else 0 : last if last >= 0 else len(block)], out)
        return content - empty, done
    return _scan_each(block, sep, marker, out)


def _scan_each(block: bytes, sep: bytes, marker: bytes, out: Outcome) -> tuple[int, bool]:
    """Event by event. A server writes every chunk of one stream with the same prefix, so the
    content marker sits at the same offset in each: after one `find`, a `startswith` settles an event.
    """
    n = 0
    done = False
    at = out.marker_at
    after = at + len(marker)
    for ev in block.split(sep):
        if at < 0 or not ev.startswith(marker, at) or not ev.endswith(b"}"):
            i = ev.find(marker)
            if i < 0 or not ev.endswith(b"}"):
                if ev.startswith(_DONE):
                    done = True
                elif ev:
                    n += _slow_event(ev, out)
                continue
            out.marker_at = at = i
            after = at + len(marker)
        if not ev.startswith(b'"', after):  # '""' is empty content (a role or finish chunk)
            n += 1
    return n, done


def _slow_event(ev: bytes, out: Outcome) -> int:
    """Parse an event the byte checks could not settle; returns 1 if it carried content.

    Anything not shaped like an OpenAI chunk fails the request (`malformed_stream`), never the run.
    """
    lines = [line[5:] for line in ev.splitlines() if line.startswith(b"data:")]
    if not lines:
        return 0  # SSE comment, or only fields we do not use
    payload = b"\n".join(lines).strip()
    if payload == b"[DONE]":
        return 0
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        obj = None
    if not isinstance(obj, dict):
        _fail(out, MALFORMED)
        return 0
    if "error" in obj:
        _fail(out, "stream_error")
        return 0
    choices = obj.get("choices")
    if not isinstance(choices, list) or not _take_usage(obj, out):
        _fail(out, MALFORMED)
        return 0
    content = 0
    for choice in choices:
        state = _choice_content(choice)
        if state < 0:
            _fail(out, MALFORMED)
            return 0
        content |= state
    return content


def _choice_content(choice: object) -> int:
    """1: a choice carrying text; 0: one without (role, finish, tool call); -1: not a choice."""
    if not isinstance(choice, dict):
        return -1
    text = choice.get("text")
    if text is None:
        # Chat: a stream's choice has a delta, a whole answer's a message.
        inner = choice.get("delta", choice.get("message"))
        if not isinstance(inner, dict):
            return -1
        text = inner.get("content")
        if text is None:
            return 0
    if not isinstance(text, str):
        return -1
    return 1 if text else 0


def _take_usage(obj: dict[str, Any], out: Outcome) -> bool:
    """Take the token counts of a `usage`; False when there is one and it is not usage-shaped."""
    usage = obj.get("usage")
    if usage is None:
        return True
    if not isinstance(usage, dict):
        return False
    completion = usage.get("completion_tokens")
    prompt = usage.get("prompt_tokens")
    if not (_is_count(completion) and _is_count(prompt)):
        return False
    out.usage_output_tokens = -1 if completion is None else completion  # -1: not given
    out.usage_prompt_tokens = -1 if prompt is None else prompt
    return True


def _is_count(value: object) -> bool:
    """Absent, or a token count (bool is an int subclass, but not a count)."""
    return value is None or (type(value) is int and value >= 0)


def _fail(out: Outcome, kind: str) -> None:
    """Record the request's error; the first one found is what it failed of."""
    if out.error is None:
        out.error = kind


def _read_whole(body: bytes, out: Outcome, proto: TimedResponseHandler | None) -> None:
    now = perf_counter()
    if proto is not None and proto.arrival:
        now = proto.arrival  # first bytes of the body; the whole body follows at once
        proto.arrival = 0.0
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        obj = None
    choices = obj.get("choices") if isinstance(obj, dict) else None
    # Without streaming the answer is the first choice's text (completions) or message (chat).
    if not (isinstance(obj, dict) and isinstance(choices, list) and choices and _take_usage(obj, out)):
        _fail(out, MALFORMED)
        return
    if _choice_content(choices[0]) != 1:
        _fail(out, MALFORMED)  # not a choice, or no text
        return
    # Without streaming the first content arrives with the whole body.
    out.first_content = now
    out.end = now
    out.read_times.append(now)
    out.read_counts.append(1)
    out.content_chunks = 1


def make_session(timeout_seconds: float) -> aiohttp.ClientSession:
    # limit=0: no pool cap, so the connector never queues requests behind the level's load.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timed_protocol.install(connector)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        # Compressed streams would cost CPU per chunk on both ends; ask for none.
        headers={"Accept-Encoding": "identity"},
    )


async def get_json(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with session.get(url, headers=headers) as resp:
        resp.raise_for_status()
        return await _json(resp)


async def post_json(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], payload: dict[str, Any]
) -> tuple[int, Any]:
    async with session.post(url, json=payload, headers=headers) as resp:
        if resp.status != 200:
            return resp.status, None  # the body is not read: the connection closes
        return resp.status, await _json(resp)


async def _json(resp: aiohttp.ClientResponse) -> Any:
    """A side answer (/v1/models, /tokenize) as JSON, read only up to SIDE_ANSWER_BYTES."""
    body = await read_capped(resp, SIDE_ANSWER_BYTES)
    if body is None:
        raise aiohttp.ClientPayloadError(f"{resp.url}: the answer is longer than {SIDE_ANSWER_BYTES} bytes")
    return json.loads(body)
