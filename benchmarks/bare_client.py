"""The reference for the benchmark: a minimal aiohttp streaming loop with no metrics at all.

Written only to compare against: one session, N users in a closed loop, each
reading its stream to the end. `--read lines` iterates lines (the common
idiom, as vLLM's benchmark client does); `--read any` takes whatever bytes
arrived (fewer wake-ups). Prints one JSON line: requests/s and output tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def bare_loop(
    url: str, concurrency: int, seconds: float, warmup: float, body: bytes, read: str
) -> float:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    headers = {"Content-Type": "application/json"}
    window = [0.0, 0.0]
    completed = 0

    async def user() -> None:
        nonlocal completed
        while time.perf_counter() < window[1]:
            async with session.post(url, data=body, headers=headers) as resp:
                if read == "lines":
                    async for _ in resp.content:
                        pass
                else:
                    async for _ in resp.content.iter_any():
                        pass
            if window[0] <= time.perf_counter() <= window[1]:
                completed += 1

    now = time.perf_counter()
    window[:] = [now + warmup, now + warmup + seconds]
    await asyncio.gather(*(user() for _ in range(concurrency)))
    await session.close()
    return completed / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--input-words", type=int, default=31)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--read", choices=("lines", "any"), default="lines")
    args = parser.parse_args()
    body = json.dumps(
        {
            "model": "mock-model",
            "prompt": " ".join(["hello"] * args.input_words),
            "max_tokens": args.output_tokens,
            "min_tokens": args.output_tokens,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    rate = asyncio.run(
        bare_loop(
            f"{args.url}/v1/completions", args.concurrency, args.seconds, args.warmup_seconds, body, args.read
        )
    )
    print(json.dumps({"req_per_s": rate, "out_tok_per_s": rate * args.output_tokens}))


if __name__ == "__main__":
    main()
