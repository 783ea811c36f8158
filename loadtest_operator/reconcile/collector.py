"""Python's cyclic garbage collector paused while shard results are merged.

A collection runs in whichever thread allocates past its threshold and holds the GIL while it walks every
tracked object: the merge of 64 shards (thousands of short-lived dicts per shard, in a worker thread)
triggered full collections of 60 to 500 ms each, and the event loop stood still for every one
(benchmarks/merge_bench.py, issue 20). The merge's objects hold no reference cycles, so reference counting
frees them and nothing needs the collector meanwhile; it runs again as usual once no merge is running.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_merging = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection until the last of the overlapping `with` blocks ends (any thread)."""
    global _merging, _was_enabled
    with _lock:
        if _merging == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _merging += 1
    try:
        yield
    finally:
        with _lock:
            _merging -= 1
            if _merging == 0 and _was_enabled:
                gc.enable()
