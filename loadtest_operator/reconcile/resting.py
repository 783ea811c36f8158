"""Objects at rest (loadtest/settled.py, capacity/settled.py) have no timer: the kopf filter stops it, and
with it goes kopf's finalizer. What such an object still needs is the store check, and it gets it:

  - once when this process first sees it at rest under its rest key (an operator restart re-checks every
    object once; a spec edit of a finished object is looked at again), run by the handler of the watch
    event itself: the same guarded tick a timer runs, its status patch written by kopf;
  - again when the store was found empty (a new or emptied database, `Store.empty_databases`): a sweep
    reads each object at rest and runs the tick, which writes the run again;
  - again, after a back-off, when the check could not trust the store's answer (the store not answering:
    a LoadTest's run_in_store said Unknown, a CapacityRecommendation's record was not written).

A check that raises writes Stalled=True like any tick: the object is no longer at rest and its timer
takes over (back-off, the stalled deadline). Checks run a few at a time, so a restart among 10,000
finished objects is a bounded queue of store reads rather than 10,000 at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loadtest_operator.io.kube import KubeError
from loadtest_operator.reconcile.context import Context, EventSink
from loadtest_operator.reconcile.guard import Outcome, Reconcile, backoff_seconds, guarded
from loadtest_operator.reconcile.stalled import Ending

RestKey = Callable[[Context, Mapping[str, Any]], "str | None"]
Events = Callable[[Mapping[str, Any]], EventSink]  # an Event sink for one object
CHECKS_AT_ONCE = 8


@dataclass(frozen=True)
class Kind:
    """One kind as the checks need it: what to call its tick with, and its rest key."""

    kind: str
    plural: str
    reconcile: Reconcile
    rest_key: RestKey
    interval: float
    ending: Ending | None = None


@dataclass
class _Entry:
    uid: str
    kind: Kind
    namespace: str
    name: str
    checked: str | None = None  # the mark (rest key @ store epoch) of the last check that held
    retry: int = 0
    due: float | None = None  # monotonic time of the next check by a sweep; None: none planned


class Resting:
    def __init__(self, clock: Callable[[], float] = time.monotonic, at_once: int = CHECKS_AT_ONCE) -> None:
        self.clock = clock
        self.at_once = at_once
        self._entries: dict[str, _Entry] = {}
        self._slots: asyncio.Semaphore | None = None
        self._swept_epoch = ""
        self._retrying: set[str] = set()  # uids with a check due later
        self._held: dict[str, int] = {}  # by kind: entries whose check held (the at-rest gauge)

    # -- what the watch-event handler asks ----------------------------------------------------------

    def mark(self, ctx: Context, kind: Kind, body: Mapping[str, Any]) -> str | None:
        """The object's rest key with the store it was checked against, or None when it has work left."""
        key = kind.rest_key(ctx, body)
        if key is None:
            return None
        return f"{key}@{self._epoch(ctx)}"

    def seen(self, ctx: Context, kind: Kind, body: Mapping[str, Any]) -> bool:
        """Record what a watch event showed; True when the object is at rest but not checked under this
        mark (the caller runs `check` then). An object with work left is the timer's, and forgotten here."""
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        mark = self.mark(ctx, kind, body)
        if mark is None:
            self.forget(uid)
            return False
        entry = self._entries.get(uid)
        if entry is None:
            entry = self._entries[uid] = _Entry(
                uid, kind, str(meta.get("namespace") or ""), str(meta["name"])
            )
        return entry.checked != mark

    async def check(self, ctx: Context, kind: Kind, body: Mapping[str, Any], event: EventSink) -> Outcome:
        """Run the object's tick once (a few at a time), and remember whether it held."""
        uid = str((body.get("metadata") or {}).get("uid") or "")
        entry = self._entries.get(uid)
        retry = entry.retry if entry is not None else 0
        async with self._semaphore():
            outcome = await guarded(
                ctx, kind.kind, body, kind.reconcile, event,
                retry=retry, interval=kind.interval, ending=kind.ending,
            )  # fmt: skip
        entry = self._entries.get(uid)
        if entry is None or outcome.retry_in is not None:
            return outcome  # deleted meanwhile, or failed: Stalled=True hands it to its timer
        if ctx.store is None or ctx.store.answering:
            self._hold(entry, self.mark(ctx, kind, body))
            entry.retry, entry.due = 0, None
            self._retrying.discard(uid)
        else:
            self._later(entry)
        return outcome

    def forget(self, uid: str) -> None:
        entry = self._entries.pop(uid, None)
        self._retrying.discard(uid)
        if entry is not None:
            self._hold(entry, None)

    def count(self, kind: str) -> int:
        """Objects of `kind` at rest whose check held (the at-rest gauge)."""
        return self._held.get(kind, 0)

    def _hold(self, entry: _Entry, mark: str | None) -> None:
        held = self._held.get(entry.kind.kind, 0)
        held += (mark is not None) - (entry.checked is not None)
        self._held[entry.kind.kind] = held
        entry.checked = mark

    # -- the sweep ----------------------------------------------------------------------------------

    def due(self, ctx: Context) -> list[str]:
        """Objects to check again now: a retry is due, or the store they were checked against is gone.
        Costs nothing per object while neither happens (the common case: everything checked)."""
        now = self.clock()
        epoch = self._epoch(ctx)
        uids = [u for u in self._retrying if (due := self._entries[u].due) is not None and due <= now]
        if epoch != self._swept_epoch:
            self._swept_epoch = epoch
            suffix = f"@{epoch}"
            uids += [
                u
                for u, e in self._entries.items()
                if e.checked is not None and not e.checked.endswith(suffix)
            ]
        return list(dict.fromkeys(uids))

    async def sweep(self, ctx: Context, events: Events) -> int:
        """Check every due object again (read afresh from the API server, its status patch written only
        if the object has not changed since: a newer event looks at it anyway). How many were checked."""
        if ctx.store is not None and not ctx.store.answering:
            await ctx.store.probe()  # notices a database that came back empty, with nobody else asking
        uids = self.due(ctx)
        for start in range(0, len(uids), self.at_once):
            await asyncio.gather(
                *(self._sweep_one(ctx, uid, events) for uid in uids[start : start + self.at_once])
            )
        return len(uids)

    async def _sweep_one(self, ctx: Context, uid: str, events: Events) -> None:
        entry = self._entries.get(uid)
        if entry is None:
            return
        entry.due = None
        self._retrying.discard(uid)
        try:
            body = await ctx.kube.custom_object(entry.kind.plural, entry.namespace, entry.name)
        except KubeError as exc:
            ctx.log.warning("%s %s/%s: re-check: %s", entry.kind.kind, entry.namespace, entry.name, exc)
            self._later(entry)
            return
        if body is None or str(body["metadata"].get("uid")) != uid:
            self.forget(uid)  # gone (its DELETED event forgets it as well)
            return
        if not self.seen(ctx, entry.kind, body):
            return
        outcome = await self.check(ctx, entry.kind, body, events(body))
        if not outcome.status_patch:
            return
        version = str(body["metadata"].get("resourceVersion") or "")
        try:
            written = await ctx.kube.patch_custom_status(
                entry.kind.plural, entry.namespace, entry.name, outcome.status_patch, version
            )
        except KubeError as exc:
            ctx.log.warning("%s %s/%s: re-check: %s", entry.kind.kind, entry.namespace, entry.name, exc)
            written = False
        if not written:  # changed meanwhile (its event checks it again) or the write failed: not held
            self._hold(entry, None)
            self._later(entry)

    def _later(self, entry: _Entry) -> None:
        self._retrying.add(entry.uid)
        entry.due = self.clock() + backoff_seconds(entry.retry, entry.kind.interval)
        entry.retry += 1

    @staticmethod
    def _epoch(ctx: Context) -> str:
        return str(ctx.store.empty_databases) if ctx.store is not None else "-"

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.at_once)
        return self._slots
