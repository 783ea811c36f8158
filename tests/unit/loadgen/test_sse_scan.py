"""Classifying SSE events: the bulk byte count and the per-event fallback must agree; malformed events
fail their request; the size limits hold."""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import cast

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.client import Outcome, Target, _read_stream, _read_whole, scan_events
from loadgen.config import ResponseLimits
from mockservers.faults import malformed_events

CHAT = b'"content":"'
TEXT = b'"text":"'
KEYS = ["choices", "index", "text", "delta", "content", "message", "usage", "completion_tokens", "error"]


def event(obj: object, spaced: bool = False) -> bytes:
    return b"data: " + json.dumps(obj, separators=(", ", ": ") if spaced else (",", ":")).encode()


def chat_chunk(content: str, spaced: bool = False, **extra: object) -> bytes:
    return event(
        {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}], **extra}, spaced
    )


def usage(prompt: int, completion: int) -> bytes:
    return event({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})


def scan(events: list[bytes], marker: bytes, sep: bytes = b"\n\n") -> tuple[int, bool, Outcome]:
    out = Outcome()
    n, done = scan_events(sep.join(events), sep, marker, out)
    return n, done, out


def test_vllm_chat_stream_counts_content_and_reads_usage() -> None:
    role = event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    events = [role, chat_chunk(" a"), chat_chunk(' "q"'), chat_chunk(""), usage(12, 2), b"data: [DONE]"]
    n, done, out = scan(events, CHAT)
    assert (n, done) == (2, True)
    assert (out.usage_prompt_tokens, out.usage_output_tokens) == (12, 2)


def test_completions_stream_counts_text_events() -> None:
    text = [event({"choices": [{"index": 0, "text": t, "finish_reason": None}]}) for t in (" x", " y", "")]
    n, done, _ = scan([*text, usage(1, 2)], TEXT)
    assert (n, done) == (2, False)


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
def test_spaced_json_and_other_separators_fall_back_to_parsing(sep: bytes) -> None:
    events = [
        chat_chunk(" a", spaced=True),
        chat_chunk("", spaced=True),
        b": keep-alive comment",
        b"data: [DONE]",
    ]
    n, done, _ = scan(events, CHAT, sep)
    assert (n, done) == (1, True)


def test_usage_null_on_every_chunk_is_not_mistaken_for_usage() -> None:
    events = [chat_chunk(" a", usage=None), chat_chunk(" b", usage=None), usage(3, 2)]
    n, _, out = scan(events, CHAT)
    assert n == 2
    assert out.usage_output_tokens == 2


def test_an_error_event_marks_the_stream() -> None:
    n, _, out = scan([chat_chunk(" a"), event({"error": {"message": "boom"}})], CHAT)
    assert n == 1
    assert out.error == "stream_error"


def test_unparsable_event_is_a_malformed_stream() -> None:
    _, _, out = scan([b"data: {not json"], CHAT)
    assert out.error == "malformed_stream"


# ---- malformed events fail the request, never the run ----------------------------------------------


@pytest.mark.parametrize("chat", [True, False])
def test_every_garbage_event_of_the_mock_is_a_malformed_stream(chat: bool) -> None:
    marker = CHAT if chat else TEXT
    good = chat_chunk(" a") if chat else event({"choices": [{"index": 0, "text": " a"}]})
    for garbage in malformed_events(chat):
        for events in ([good, garbage, good, b"data: [DONE]"], [garbage]):  # mixed in, and on its own
            _, _, out = scan(events, marker)
            assert out.error == "malformed_stream", garbage


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,  # deeper than the JSON parser recurses
        b'{"choices":[{"index":0,"delta":null}]}',
        b'{"choices":[{"index":0,"delta":{"content":["a"]}}]}',
        b'{"choices":[{"index":0}]}',  # neither text nor delta
        b'{"choices":[],"usage":[1]}',
        b'{"choices":[],"usage":{"completion_tokens":true}}',
        b'{"choices":[],"usage":{"completion_tokens":-3}}',
        b'"just a string"',
        b"\xff\xfe not utf-8",
    ],
)
def test_wrong_shapes_are_malformed(payload: bytes) -> None:
    _, _, out = scan([b"data: " + payload], CHAT)
    assert out.error == "malformed_stream"


def test_shapes_that_are_fine_stay_fine() -> None:
    events = [
        event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),  # no content at all
        event({"choices": [{"index": 0, "delta": {"content": None, "tool_calls": []}}]}),
        event({"choices": [{"index": 0, "delta": {"reasoning_content": "hm"}}]}),
        b'event: message\ndata: {"choices": [{"index": 0, "delta": {"content": " a"}}]}',  # two lines
        event({"choices": [], "usage": None}),
        event({"choices": [], "usage": {"prompt_tokens": 4}}),  # no completion_tokens: counted from chunks
    ]
    n, _, out = scan(events, CHAT)
    assert (n, out.error) == (1, None)
    assert (out.usage_prompt_tokens, out.usage_output_tokens) == (4, -1)


def test_a_content_chunk_cut_off_is_not_trusted_for_its_marker() -> None:
    cut = b'data: {"id":"cmpl-1","choices":[{"index":0,"delta":{"content":" alp'
    for events in ([chat_chunk(" a"), cut], [cut, chat_chunk(" b"), b"data: [DONE]"]):
        _, _, out = scan(events, CHAT)
        assert out.error == "malformed_stream"


def test_the_first_error_is_the_one_counted() -> None:
    _, _, out = scan([b"data: {oops", event({"error": {"message": "boom"}})], CHAT)
    assert out.error == "malformed_stream"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=8,
)


@settings(deadline=None, max_examples=150)
@given(st.lists(json_values, min_size=1, max_size=3), st.booleans())
def test_no_event_shape_raises(values: list[object], chat: bool) -> None:
    """Whatever JSON a server sends, the scanner returns: a count, or an error kind."""
    n, _, out = scan([event(v) for v in values], CHAT if chat else TEXT)
    assert n >= 0
    assert out.error in (None, "malformed_stream", "stream_error")


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=300), st.integers(1, 50))
def test_no_byte_stream_raises(garbage: bytes, step: int) -> None:
    out, _ = read_stream(garbage[i : i + step] for i in range(0, len(garbage), step))
    assert out.error in ("malformed_stream", "stream_error") or out.content_chunks > 0


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502</html>",
        b"[]",
        b'{"choices":{}}',
        b'{"choices":[]}',
        b'{"choices":["x"]}',
        b'{"choices":[{"index":0,"text":7}]}',
        b'{"choices":[{"index":0,"message":"hi"}]}',
        b'{"choices":[{"index":0,"message":{"content":""}}]}',  # no content
        b'{"choices":[{"index":0,"text":"ok"}],"usage":{"completion_tokens":"2"}}',
        b"[" * 100_000,
    ],
)
def test_a_whole_body_of_the_wrong_shape_is_malformed(body: bytes) -> None:
    out = Outcome()
    _read_whole(body, out, None)
    assert out.error == "malformed_stream"


@pytest.mark.parametrize(
    "body",
    [
        b'{"choices":[{"index":0,"text":"ok"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}',
        b'{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}',
    ],
)
def test_a_whole_body_of_either_api_is_read(body: bytes) -> None:
    out = Outcome()
    _read_whole(body, out, None)
    assert (out.error, out.content_chunks) == (None, 1)


# ---- size limits -----------------------------------------------------------------------------------

STREAM = [chat_chunk(f" t{i}") for i in range(20)] + [usage(5, 20), b"data: [DONE]"]
WIRE = b"".join(e + b"\n\n" for e in STREAM)


class _Content:
    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces = iter(pieces)
        self.taken = 0

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            self.taken += 1
            yield piece


class _Response:
    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.content = _Content(pieces)


def read_stream(
    pieces: Iterable[bytes], marker: bytes = CHAT, max_event: int = 1 << 20, max_body: int = 1 << 30
) -> tuple[Outcome, int]:
    """The stream of `pieces` (one per read) through the client's reader; the outcome and reads taken."""
    limits = ResponseLimits(max_event_bytes=max_event, max_body_bytes=max_body)
    target = Target("http://127.0.0.1:9", "chat" if marker == CHAT else "completions", None, True, limits, 16)
    resp = _Response(pieces)
    out = Outcome()
    asyncio.run(_read_stream(cast(aiohttp.ClientResponse, resp), target, out, None))
    return out, resp.content.taken


@settings(deadline=None)
@given(st.lists(st.integers(0, len(WIRE)), max_size=12), st.sampled_from([b"\n\n", b"\r\n\r\n"]))
def test_a_stream_read_in_any_pieces_counts_the_same(cuts: list[int], sep: bytes) -> None:
    wire = WIRE.replace(b"\n\n", sep)
    bounds = [0, *sorted(cuts), len(wire)]
    out, _ = read_stream(wire[a:b] for a, b in itertools.pairwise(bounds))
    assert (out.error, out.content_chunks, out.usage_output_tokens) == (None, 20, 20)
    assert sum(out.read_counts) == 20


def endless(first: bytes, piece: bytes, guard: int) -> Iterator[bytes]:
    yield first
    for _ in range(guard):
        yield piece
    pytest.fail("the reader kept reading")


def test_an_event_that_never_ends_fails_once_it_outgrows_the_limit() -> None:
    out, taken = read_stream(endless(b'data: {"choices":[{"index":0,"text":"', b"x" * 1000, 20), TEXT, 4096)
    assert out.error == "response_too_large"
    assert taken == 6  # the head (37 bytes) and four pieces are held; the fifth passes 4,096 bytes


def test_an_event_at_the_limit_is_read() -> None:
    big = chat_chunk("x" * 3000)
    out, _ = read_stream([big[:100], big[100:], b"\n\ndata: [DONE]\n\n"], max_event=len(big) + 2)
    assert (out.error, out.content_chunks) == (None, 1)


def test_a_stream_longer_than_the_body_limit_fails_even_in_small_events() -> None:
    # Comments forever: no event is big, the body is.
    out, taken = read_stream(endless(b"", b": keep-alive\n\n", 2000), max_body=10_000)
    assert out.error == "response_too_large"
    assert taken == 1 + 10_000 // 14 + 1


def test_a_multi_line_event_is_not_miscounted_by_the_byte_counts() -> None:
    two_lines = b'event: message\ndata: {"choices":[{"index":0,"delta":{"content":" a"}}]}'
    n, done, out = scan([two_lines, chat_chunk(" b"), b"data: [DONE]"], CHAT)
    assert (n, done, out.error) == (2, True, None)
