"""Whether a LoadTest has anything left to do, decided purely from the object as the API server holds it.

A LoadTest is *at rest* when `plan(...)` would neither create, delete nor write anything whatever the
cluster holds, except what the store check does (the store answers once per process whether it holds a
finished run; a store that lacks it gets it written again). At rest:

  - the current runId has finished (Succeeded True or False) and its store write is settled: `Stored`
    True, or False with `StoreRejected` (not resent by the process it was refused to), or no store;
  - the current runId (or, for a spec that does not parse, the last one) was refused for this very
    generation (Accepted=False, the condition's observedGeneration is metadata.generation);

and in both cases no failed tick is waiting to be healed (Stalled is not True). Everything else has work
left: a run to start (a new object, a runId bump, an edited refused spec), a run to follow, a store write
to retry (`Stored=False DatabaseUnavailable`, or none yet).

The answer is a *rest key* that names the state rested in (generation, runId, outcome, store outcome), or
None when there is work left: the handler keeps a timer only for objects without a key, and checks an
object at rest once per key (and per store it writes to), so a spec edit is looked at again at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtest_operator.api import ConditionStatus, LoadTestConditionType, LoadTestReason, LoadTestStatus
from loadtest_operator.core.conditions import find_condition, is_condition_true, is_finished
from loadtest_operator.loadtest.observed import rejected_already
from loadtest_operator.loadtest.validation import parse_spec

C = LoadTestConditionType
R = LoadTestReason


def loadtest_rest_key(body: Mapping[str, Any], *, store_configured: bool) -> str | None:
    """The rest key of this LoadTest, or None while it has something left to do."""
    meta: Mapping[str, Any] = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None  # kopf stops the timer of a deleted object itself
    generation = int(meta.get("generation") or 0)
    try:
        status = LoadTestStatus.model_validate(body.get("status") or {})
    except ValueError:
        return None  # a status the operator did not write: the tick rewrites it
    conditions = status.conditions or []
    if is_condition_true(conditions, C.STALLED):
        return None
    spec, _ = parse_spec(body.get("spec") or {})
    if spec is None:
        run_id = status.run_id or 0
        if rejected_already(status, run_id, generation):
            return _key(generation, run_id, "Refused", _reason(status, C.ACCEPTED))
        return None
    if status.run_id != spec.run_id:
        return None
    if is_finished(conditions):
        stored = _store_settled(status, store_configured)
        if stored is None:
            return None
        return _key(generation, spec.run_id, _reason(status, C.SUCCEEDED), stored)
    if rejected_already(status, spec.run_id, generation):
        return _key(generation, spec.run_id, "Refused", _reason(status, C.ACCEPTED))
    return None


def _store_settled(status: LoadTestStatus, store_configured: bool) -> str | None:
    """How the finished run's store write ended, or None while it is still to be (re)tried."""
    if not store_configured:
        return "NoStore"
    stored = find_condition(status.conditions or [], C.STORED)
    if stored is None:
        return None
    if stored.status is ConditionStatus.TRUE:
        return "Stored"
    if stored.reason == R.STORE_REJECTED:
        return "StoreRejected"
    return None


def _reason(status: LoadTestStatus, type_: str) -> str:
    found = find_condition(status.conditions or [], type_)
    return found.reason if found is not None else ""


def _key(*parts: object) -> str:
    return "/".join(str(p) for p in parts)
