"""The faults the mock OpenAI server can inject (`llmload-mock openai --fault`), standard library only.

Each is misbehaviour a real server, or a proxy in front of it, can show and the load generator must
survive: fail the one request with its own error kind, keep its memory bounded, and go on.
"""

from __future__ import annotations

# `MockConfig.fault`:
# endless-event: the answer is one SSE event (or, not streamed, one body) that never ends;
# huge-error: an HTTP 500 whose body is `fault_bytes` long; malformed-chunk: a good stream with one
# garbage event after its first token (not streamed: a garbage body); hang: the request is read and
# never answered.
FAULTS = ("endless-event", "huge-error", "malformed-chunk", "hang")


def malformed_events(chat: bool) -> tuple[bytes, ...]:
    """The garbage events `malformed-chunk` sends, one per faulted request in turn."""
    content = b'"delta":{"content":' if chat else b'"text":'
    close = b"}}]}" if chat else b"}]}"
    return (
        b'data: {"choices":[{"index":0,"te',  # cut off: not JSON
        b"data: <html><body><h1>502 Bad Gateway</h1></body></html>",  # a proxy's page: not JSON
        b"data: [1,2,3]",  # JSON, not an object
        b'data: {"choices":"none"}',  # choices not a list
        b'data: {"choices":[7]}',  # a choice not an object
        b'data: {"id":"cmpl-0","object":"text_completion"}',  # no choices at all
        b'data: {"choices":[{"index":0,' + content + b"7" + close,  # content not a string
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":"many"}}',  # usage of the wrong type
        b'data: {"id":"cmpl-0","choices":[{"index":0,' + content + b'" alp',  # content, then cut off
    )
