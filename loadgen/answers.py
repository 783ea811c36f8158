"""The dataset's answer lengths in server tokens, for `workload.dataset_output_tokens`.

Each distinct answer is counted once with vLLM's /tokenize (as a completions prompt, less what an empty
prompt counts: the BOS token a tokenizer adds). Without /tokenize an answer counts one token per word,
and the run says so in its warnings.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp

from loadgen.client import post_json
from loadgen.workload import Conversation, Turn

# Answers counted at once: enough to hide the round trips, few enough not to load the server.
CONCURRENT_COUNTS = 16
NO_TOKENIZE_WARNING = (
    "the dataset's answer lengths are counted as one token per word: the server has no /tokenize"
)


async def _count(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], model: str, text: str
) -> int | None:
    try:
        status, data = await post_json(session, url, headers, {"model": model, "prompt": text})
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    count = data.get("count") if status == 200 and isinstance(data, dict) else None
    return count if type(count) is int else None


async def count_answers(
    session: aiohttp.ClientSession,
    base_url: str,
    headers: dict[str, str],
    model: str,
    conversations: list[Conversation],
) -> tuple[list[Conversation], list[str]]:
    """The conversations with every turn's `answer_tokens` set, and any warning."""
    url = f"{base_url}/tokenize"
    empty = await _count(session, url, headers, model, "")
    answers = sorted({t.answer for c in conversations for t in c if t.answer is not None})
    counts: dict[str, int] = {}
    warnings: list[str] = []
    if empty is None:
        counts = {a: len(a.split()) for a in answers}
        warnings.append(NO_TOKENIZE_WARNING)
    else:
        limit = asyncio.Semaphore(CONCURRENT_COUNTS)

        async def one(answer: str) -> None:
            async with limit:
                n = await _count(session, url, headers, model, answer)
            counts[answer] = n - empty if n is not None else len(answer.split())

        await asyncio.gather(*(one(a) for a in answers))

    def counted(turn: Turn) -> Turn:
        return replace(turn, answer_tokens=max(1, counts[turn.answer])) if turn.answer is not None else turn

    return [tuple(counted(t) for t in c) for c in conversations], warnings
