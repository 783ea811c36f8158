"""Runs a coroutine on asyncio's own loop, or on uvloop when LOADGEN_EVENT_LOOP=uvloop.

uvloop stays opt-in: on the benchmark machine it showed no consistent gain
in request rate or timing accuracy over asyncio's loop (see docs/loadgen.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    choice = os.environ.get("LOADGEN_EVENT_LOOP", "asyncio")
    if choice == "asyncio":
        return None
    if choice != "uvloop":
        raise ValueError(f"LOADGEN_EVENT_LOOP={choice!r}: use asyncio (the default) or uvloop")
    try:
        import uvloop
    except ImportError:
        raise RuntimeError("LOADGEN_EVENT_LOOP=uvloop needs the uvloop package installed") from None
    return uvloop.new_event_loop


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        factory = loop_factory()
    except (ValueError, RuntimeError):
        coro.close()  # never started: close it so Python does not warn about it
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
