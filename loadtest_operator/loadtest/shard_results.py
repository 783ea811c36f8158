"""The shards' results, read and merged in one pass: each decoded within a shard's bounds and folded into
the merge at once, so the operator holds one shard's result and the running sum, never every shard's.

A result's size is bounded by its histogram buckets, not by its requests (loadgen/compact.py), so this
costs the same memory for a run of 10 million requests as for one of a thousand. Pure and synchronous:
the observer runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loadgen.compact import decode_shard_result
from loadgen.merge import RunMerger
from loadgen.result import RunResult

MAX_MESSAGE = 600


@dataclass(frozen=True)
class ShardResults:
    merged: RunResult | None
    # Shards whose result cannot be read, with why.
    unreadable: dict[int, str] = field(default_factory=dict)
    # The shards read, when their results do not merge (levels, model): none can be trusted.
    disagree: dict[int, str] = field(default_factory=dict)


def read_and_merge(texts: Mapping[int, str]) -> ShardResults:
    merger = RunMerger()
    unreadable: dict[int, str] = {}
    read: list[int] = []
    mismatch: str | None = None
    for index in sorted(texts):
        try:
            result = decode_shard_result(texts[index], with_raw=merger.keeps_raw)
        except ValueError as exc:
            unreadable[index] = f"shard {index} wrote a result that cannot be read: {exc}"[:MAX_MESSAGE]
            continue
        read.append(index)
        if mismatch is None:
            try:
                merger.add(result)
            except ValueError as exc:
                mismatch = str(exc)
        del result  # one shard's result at a time
    if mismatch is not None:
        message = f"the shards' results do not merge: {mismatch}"
        return ShardResults(None, unreadable, {i: f"shard {i}: {message}"[:MAX_MESSAGE] for i in read})
    return ShardResults(merger.result() if read else None, unreadable)
