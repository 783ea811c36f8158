"""Socket-level timestamps for aiohttp connections.

A task sees data only after the event loop has run every other ready
callback, so a timestamp taken in the task is late by however busy the loop
is. These hooks stamp the moment bytes are handed to the socket (write) and
the moment they are read from it (data_received), which is what TTFT and ITL
should be measured between. Falls back to task timestamps if aiohttp's
internals ever change shape.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from time import perf_counter
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler


class _StampedTransport:
    """Forwards everything to the real transport; records when a write happens."""

    __slots__ = ("_owner", "_transport")

    def __init__(self, transport: asyncio.Transport, owner: TimedResponseHandler) -> None:
        self._transport = transport
        self._owner = owner

    def write(self, data: Any) -> None:
        self._owner.sending()
        self._transport.write(data)

    def writelines(self, chunks: Iterable[Any]) -> None:
        self._owner.sending()
        self._transport.writelines(chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class TimedResponseHandler(ResponseHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.last_write = 0.0
        # perf_counter of the first read not yet taken by the reader (0.0: none pending).
        self.arrival = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.transport is not None:
            self.transport = cast(asyncio.Transport, _StampedTransport(self.transport, self))

    def sending(self) -> None:
        self.last_write = perf_counter()
        # Whatever arrived before a new request (e.g. the end of the last response) is not its answer.
        self.arrival = 0.0

    def data_received(self, data: bytes) -> None:
        if not self.arrival:
            self.arrival = perf_counter()
        super().data_received(data)


def install(connector: aiohttp.TCPConnector) -> bool:
    """Make `connector` create timed protocols; False if this aiohttp has no such hook."""
    if not hasattr(connector, "_factory"):
        return False
    loop = asyncio.get_running_loop()
    connector._factory = cast(
        "functools.partial[ResponseHandler]", functools.partial(TimedResponseHandler, loop=loop)
    )
    return True
