"""The report's AI narrative written by the real vLLM (the tiny local model: its words are noise, but the
stream is vLLM's own OpenAI chat stream): the results service streams it as start, deltas and end, and
`llmload report --narrative` prints it after the report."""

from __future__ import annotations

import json

import httpx

from loadtest_operator.io.narrative import Endpoint
from loadtest_operator.report.narrative import NOTICE, parse_events
from tests.integration.report.conftest import NAMESPACE, Served, served, sqlite_engine
from tests.integration.vllm.conftest import MODEL_NAME
from tests.shared_vllm import Endpoint as VllmEndpoint

__all__ = ["served", "sqlite_engine"]


def test_vllm_writes_the_narrative_of_a_stored_run(served: Served, real_vllm: VllmEndpoint) -> None:
    # The tiny model's context is 2,048 tokens: room for the prompt and 200 more.
    served.narrate(Endpoint(url=real_vllm.url, model=MODEL_NAME, max_tokens=200, first_token_seconds=60))
    with httpx.stream(
        "GET", f"{served.url}/api/v1/namespaces/{NAMESPACE}/runs/dash/narrative",
        headers={"Authorization": "Bearer token-alice"}, timeout=120,
    ) as answer:  # fmt: skip
        assert answer.status_code == 200
        events = list(parse_events(answer.iter_lines()))
    names = [e.name for e in events]
    assert names[0] == "start"
    assert names[-1] == "end", json.loads(events[-1].data)
    start, end = json.loads(events[0].data), json.loads(events[-1].data)
    assert (start["model"], start["notice"]) == (MODEL_NAME, NOTICE)
    text = "".join(json.loads(e.data)["text"] for e in events if e.name == "delta")
    assert end["chars"] == len(text) > 0
    assert end["finishReason"] in ("stop", "length")
    print(f"\nvLLM narrative: {end['chars']} chars in {end['seconds']} s ({end['finishReason']}), "
          f"prompt {start['prompt']['chars']} chars")  # fmt: skip
