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
from loadgen.timed_protocol import TimedResponseHandler

_DONE = b"data: [DONE]"


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
    """Where and how to send: the URL, headers and the API's content marker."""

    def __init__(self, base_url: str, api: str, api_key: str | None, stream: bool) -> None:
        self.url = f"{base_url}/v1/chat/completions" if api == "chat" else f"{base_url}/v1/completions"
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.stream = stream
        # vLLM writes compact JSON, so a non-empty content chunk contains exactly this marker
        # followed by something other than the closing quote.
        self.marker = b'"content":"' if api == "chat" else b'"text":"'


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
                await resp.read()
                out.error = f"http_{resp.status}"
            elif target.stream:
                await _read_stream(resp, target.marker, out, proto)
            else:
                _read_whole(await resp.read(), out, proto)
    except TimeoutError:
        out.error = "timeout"
    except aiohttp.ClientPayloadError:
        out.error = "malformed_stream"
    except (aiohttp.ClientError, OSError):
        # Dropped after the response began: the stream is what broke.
        out.error = "malformed_stream" if in_body else "connection"
    if not out.end or out.error is not None:
        out.end = perf_counter()
    return out


def _timed_protocol(resp: aiohttp.ClientResponse) -> TimedResponseHandler | None:
    conn = resp.connection
    proto = conn.protocol if conn is not None else None
    return proto if isinstance(proto, TimedResponseHandler) else None


async def _read_stream(
    resp: aiohttp.ClientResponse, marker: bytes, out: Outcome, proto: TimedResponseHandler | None
) -> None:
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
        if leftover:
            data = leftover + data
        cut = data.rfind(sep)
        if cut < 0:
            if b"\r\n\r\n" in data:
                sep = b"\r\n\r\n"
                cut = data.rfind(sep)
            if cut < 0:
                leftover = data
                continue
        leftover = data[cut + len(sep) :]
        n, block_done = scan_events(data[:cut], sep, marker, out)
        done = done or block_done
        if n:
            if not read_times:
                out.first_content = arrived
            read_times.append(arrived)
            read_counts.append(n)
            out.content_chunks += n
    out.end = arrived
    if out.error is None and (not done or not out.content_chunks):
        out.error = "malformed_stream"  # cut short, or a "successful" reply with no content


def scan_events(block: bytes, sep: bytes, marker: bytes, out: Outcome) -> tuple[int, bool]:
    """Content events and whether [DONE] came, in `block`: complete SSE events joined by `sep`.

    The usual block holds only the shapes vLLM sends (content chunks, empty
    role/finish chunks, one usage chunk, [DONE] last), which three byte counts
    over the block settle. Anything else is looked at event by event.
    """
    events = block.count(sep) + 1
    content = block.count(marker)
    empty = block.count(marker + b'"') if content else 0
    done = block.endswith(_DONE)
    usage_at = block.rfind(b'"usage"')
    if content + done + (usage_at >= 0) == events:
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
        if at < 0 or not ev.startswith(marker, at):
            i = ev.find(marker)
            if i < 0:
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
    """Parse an event the byte check could not settle; returns 1 if it carried content."""
    line = ev.strip()
    if not line.startswith(b"data:"):
        return 0  # SSE comment or a field we do not use
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return 0
    try:
        obj = json.loads(payload)
    except ValueError:
        out.error = "malformed_stream"
        return 0
    if not isinstance(obj, dict):
        out.error = "malformed_stream"
        return 0
    if "error" in obj:
        out.error = "stream_error"
        return 0
    _take_usage(obj, out)
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if choice.get("text") or delta.get("content"):
            return 1
    return 0


def _take_usage(obj: dict[str, Any], out: Outcome) -> None:
    usage = obj.get("usage")
    if isinstance(usage, dict):
        out.usage_output_tokens = int(usage.get("completion_tokens", -1))
        out.usage_prompt_tokens = int(usage.get("prompt_tokens", -1))


def _read_whole(body: bytes, out: Outcome, proto: TimedResponseHandler | None) -> None:
    now = perf_counter()
    if proto is not None and proto.arrival:
        now = proto.arrival  # first bytes of the body; the whole body follows at once
        proto.arrival = 0.0
    try:
        obj = json.loads(body)
    except ValueError:
        out.error = "malformed_stream"
        return
    if not isinstance(obj, dict) or not obj.get("choices"):
        out.error = "malformed_stream"
        return
    _take_usage(obj, out)
    choice = obj["choices"][0]
    text = choice.get("text") or (choice.get("message") or {}).get("content")
    if not text:
        out.error = "malformed_stream"
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
        return await resp.json()


async def post_json(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], payload: dict[str, Any]
) -> tuple[int, Any]:
    async with session.post(url, json=payload, headers=headers) as resp:
        if resp.status != 200:
            await resp.read()
            return resp.status, None
        return resp.status, await resp.json()
