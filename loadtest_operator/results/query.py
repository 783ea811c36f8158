"""The request's words turned into filters: times, run references, page tokens. Pure; every error is a
QueryError whose message says what was wrong and what to write instead."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
OUTCOMES = ("Pending", "Rejected", "Running", "Succeeded", "Failed")


class QueryError(ValueError):
    """A parameter the service cannot use (HTTP 400)."""


def parse_time(value: str, now: datetime, what: str) -> datetime:
    """An RFC 3339 time with its offset (2026-12-01T00:00:00Z), or an age back from now (30m, 24h, 7d)."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise QueryError(
            f"{what}={value!r}: use an RFC 3339 time (2026-12-01T00:00:00Z) or an age (30m, 24h, 7d)"
        ) from None
    if parsed.tzinfo is None:
        raise QueryError(f"{what}={value!r} has no time zone: add Z for UTC (e.g. {text}Z)")
    return parsed.astimezone(UTC)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit={limit}: use 1 to {MAX_LIMIT}")
    return limit


def check_outcome(outcome: str | None) -> str | None:
    if outcome is not None and outcome not in OUTCOMES:
        raise QueryError(f"outcome={outcome!r}: use one of {', '.join(OUTCOMES)}")
    return outcome


def check_name(value: str, what: str) -> str:
    if len(value) > 253 or not _NAME.match(value):
        raise QueryError(
            f"{what}={value!r} is not a Kubernetes name (lower case letters, digits, '-' and '.')"
        )
    return value


def filters_digest(filters: Mapping[str, object]) -> str:
    """What a page token is bound to: a token of one query is refused by another."""
    canonical = json.dumps({k: str(v) for k, v in sorted(filters.items()) if v is not None}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_continue(offset: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "q": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, digest: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset, bound = int(data["o"]), str(data["q"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise QueryError("continue: not a token this service gave out; start again without it") from None
    if bound != digest or offset < 0:
        raise QueryError(
            "continue: the token belongs to a query with other filters; repeat that query's filters or start again"
        )
    return offset


def encode_after(key: tuple[datetime, str, int], digest: str) -> str:
    """A keyset page token: the last run shown (started_at, uid, runId), bound to the query's filters."""
    started, uid, run_id = key
    raw = json.dumps({"k": [started.isoformat(), uid, run_id], "q": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_after(token: str, digest: str) -> tuple[datetime, str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        started, uid, run_id = data["k"]
        key = (datetime.fromisoformat(started), str(uid), int(run_id))
        bound = str(data["q"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise QueryError("continue: not a token this service gave out; start again without it") from None
    if bound != digest:
        raise QueryError(
            "continue: the token belongs to a query with other filters; repeat that query's filters or start again"
        )
    return key


@dataclass(frozen=True, slots=True)
class RunRef:
    """A run as people name it: NAMESPACE/NAME (its newest run), NAMESPACE/NAME:RUNID, and either with
    @UID (the LoadTest's uid or its start, e.g. the 8 characters history shows) to pick one of several
    LoadTests that had the same name (deleted and re-created)."""

    namespace: str
    name: str
    run_id: int | None = None
    uid: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.namespace}/{self.name}"
            + ("" if self.run_id is None else f":{self.run_id}")
            + ("" if self.uid is None else f"@{self.uid}")
        )


SHORT_UID = 8
_UID = re.compile(r"^[0-9a-f-]{1,64}$")
REF_EXAMPLE = "bench/sweep, bench/sweep:2 or bench/sweep:2@1f0c9a3b"


def check_uid(value: str, what: str = "uid") -> str:
    if not _UID.match(value):
        raise QueryError(f"{what} {value!r}: a LoadTest uid or its start (lower-case hex and '-')")
    return value


def parse_run_ref(value: str, default_namespace: str | None = None) -> RunRef:
    text = value.strip()
    run_id = uid = None
    if "@" in text:
        text, _, tail = text.rpartition("@")
        uid = check_uid(tail, f"run {value!r}: the part after '@' (the uid)")
    if ":" in text:
        text, _, tail = text.rpartition(":")
        if not tail.isdigit():
            raise QueryError(f"run {value!r}: the part after ':' is the runId, a number (e.g. bench/sweep:2)")
        run_id = int(tail)
    if "/" in text:
        namespace, _, name = text.partition("/")
    elif default_namespace:
        namespace, name = default_namespace, text
    else:
        raise QueryError(f"run {value!r}: write NAMESPACE/NAME[:RUNID][@UID] (e.g. {REF_EXAMPLE})")
    return RunRef(check_name(namespace, "namespace"), check_name(name, "name"), run_id, uid)
