"""How the operator calls the database: on the store's own small thread pool (never the default pool the
Kubernetes client and the result merging use), each call with a deadline, and, after the database failed,
a back-off during which calls fail at once instead of queueing behind a dead server.

Errors come out as one of two kinds:

- StoreUnavailableError: the database is away or too slow (connection refused, locked, timed out, disk
  unwritable). Worth retrying: the next call after the back-off tries again (one call at a time until one
  succeeds, so thousands of objects do not all hit a server that is just coming back).
- StoreRejectedError: the database is up and refused these values (too long for a column, a constraint,
  a value the driver cannot bind). Retrying the same record gives the same answer; the back-off is not
  touched, other records still go through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

T = TypeVar("T")

STORE_WORKERS = 2
CALL_TIMEOUT_SECONDS = 15.0
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# SQLSTATE classes that mean "these values", not "this server": data exception, integrity constraint
# violation, program limit exceeded (e.g. an index row too large).
REJECTING_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})


class StoreError(RuntimeError):
    """The database did not take a call; the message says why (no credentials, no SQL, no values)."""


class StoreUnavailableError(StoreError):
    """The database is unreachable, failing or too slow: retried later."""


class StoreRejectedError(StoreError):
    """The database refused the values: the same record is refused again."""


def is_rejection(exc: SQLAlchemyError) -> bool:
    """Whether `exc` is about the values sent rather than the database's health."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return True  # a bind parameter could not be turned into a database value
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in REJECTING_SQLSTATE_CLASSES


def describe(exc: BaseException) -> str:
    """The driver's own words, on one line: no SQL statement and no parameters (they can be long and
    hold the whole spec)."""
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:500]


class StoreCalls:
    """Blocking database calls, run off the event loop on a dedicated pool with a deadline each, behind a
    back-off after failures. `clock` is for tests."""

    def __init__(
        self,
        *,
        workers: int = STORE_WORKERS,
        timeout: float = CALL_TIMEOUT_SECONDS,
        backoff_initial: float = BACKOFF_INITIAL_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.timeout = timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmload-store")
        # Calls beyond the pool's size wait here, before their deadline starts: a deadline measures the
        # database, not the queue of objects waiting for a worker.
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._delay = 0.0  # the current back-off; 0 = the database answered last time
        self._retry_at = 0.0
        self._probing = False
        self._last_error = ""

    @property
    def failing(self) -> bool:
        return self._delay > 0

    async def run(self, fn: Callable[..., T], *args: Any, seconds: float | None = None) -> T:
        """`fn(*args)` in the store's pool. Raises StoreUnavailableError (also at once during a back-off,
        and when no answer came within `seconds`, default the instance's timeout) or StoreRejectedError."""
        probe = self._admit()
        limit = seconds or self.timeout
        try:
            async with self._semaphore():
                future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
                try:
                    result = await asyncio.wait_for(future, limit)
                except TimeoutError:
                    # The worker thread cannot be stopped; it finishes (or fails) on its own, and the
                    # back-off keeps new calls from piling up behind it meanwhile.
                    raise self._failed(f"no answer from the database within {limit:g}s") from None
                except SQLAlchemyError as exc:
                    if is_rejection(exc):
                        self._answered()  # the database is up: it read the values and said no
                        raise StoreRejectedError(describe(exc)) from exc
                    raise self._failed(describe(exc)) from exc
                except OSError as exc:  # e.g. the SQLite file's directory cannot be created
                    raise self._failed(describe(exc)) from exc
            self._answered()
            return result
        finally:
            if probe:
                self._probing = False

    def run_sync(self, fn: Callable[..., T], *args: Any, seconds: float | None = None) -> T:
        """`run` for callers without an event loop (the operator's start-up)."""
        return asyncio.run(self.run(fn, *args, seconds=seconds))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _admit(self) -> bool:
        """Raise at once while backing off; True when this call is the one probe after the back-off."""
        if not self.failing:
            return False
        if self.clock() < self._retry_at or self._probing:
            raise StoreUnavailableError(f"{self._last_error} (retrying after {self._delay:g}s)")
        self._probing = True
        return True

    def _answered(self) -> None:
        self._delay, self._last_error = 0.0, ""

    def _failed(self, message: str) -> StoreUnavailableError:
        self._delay = min(self.backoff_max, self._delay * 2 if self.failing else self.backoff_initial)
        self._retry_at = self.clock() + self._delay
        self._last_error = message
        return StoreUnavailableError(message)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self.workers), loop
        return self._slots
