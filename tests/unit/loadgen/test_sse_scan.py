"""Classifying SSE events: the bulk byte count and the per-event fallback must agree."""

import json

import pytest

from loadgen.client import Outcome, scan_events

CHAT = b'"content":"'
TEXT = b'"text":"'


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
