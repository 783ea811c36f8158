"""Who is asking, and what may they see: the caller's bearer token → TokenReview → their user; a right
→ SubjectAccessReview. Runs of a namespace are readable with `get loadtests` there, purgeable with
`delete loadtests` there. Decisions are cached briefly (DECISION_TTL_SECONDS): a revoked right stops
working within that time. Tokens are cached only as their SHA-256, never logged."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from loadtest_operator.api.group import GROUP, PLURAL
from loadtest_operator.core.admission import Access, Requester

DECISION_TTL_SECONDS = 10.0
MAX_CACHED = 10_000
# Reviews in flight at once for one request (a list over many namespaces).
REVIEW_CONCURRENCY = 8
# Namespaces one list request checks at most; beyond, the caller names one (400 says so).
MAX_NAMESPACES_PER_REQUEST = 64


class Tokens(Protocol):
    async def review(self, token: str) -> Requester | None: ...


class Rights(Protocol):
    async def allowed(self, user: Requester, access: Access) -> bool: ...


@dataclass(frozen=True, slots=True)
class Right:
    verb: str  # get or delete

    def access(self, namespace: str) -> Access:
        # namespace "" asks for the right in every namespace (a ClusterRoleBinding).
        return Access(verb=self.verb, resource=PLURAL, name="", namespace=namespace, group=GROUP)

    def describe(self, namespace: str) -> str:
        where = f"in namespace {namespace!r}" if namespace else "in every namespace"
        return f"{self.verb} {PLURAL}.{GROUP} {where}"


READ = Right("get")
PURGE = Right("delete")


K = TypeVar("K")
V = TypeVar("V")


class _Cache(Generic[K, V]):
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl, self.clock = ttl, clock
        self.entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        found = self.entries.get(key)
        if found is None or found[0] < self.clock():
            self.entries.pop(key, None)
            return False, None
        return True, found[1]

    def put(self, key: K, value: V) -> None:
        if len(self.entries) >= MAX_CACHED:
            now = self.clock()
            self.entries = {k: v for k, v in self.entries.items() if v[0] >= now}
            if len(self.entries) >= MAX_CACHED:
                self.entries.clear()
        self.entries[key] = (self.clock() + self.ttl, value)


def _user_key(user: Requester) -> tuple[str, str, tuple[str, ...]]:
    return (user.username, user.uid, user.groups)


class Authorizer:
    def __init__(
        self,
        tokens: Tokens,
        rights: Rights,
        *,
        ttl: float = DECISION_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens, self.rights = tokens, rights
        self._users: _Cache[str, Requester | None] = _Cache(ttl, clock)
        self._decisions: _Cache[tuple[object, ...], bool] = _Cache(ttl, clock)
        self.reviews = 0  # SubjectAccessReviews sent (tests bound it)
        self.token_reviews = 0

    async def authenticate(self, token: str) -> Requester | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        hit, user = self._users.get(key)
        if hit:
            return user
        self.token_reviews += 1
        user = await self.tokens.review(token)
        self._users.put(key, user)
        return user

    async def allowed(self, user: Requester, right: Right, namespace: str) -> bool:
        key = (_user_key(user), right.verb, namespace)
        hit, decision = self._decisions.get(key)
        if hit and decision is not None:
            return decision
        self.reviews += 1
        decision = await self.rights.allowed(user, right.access(namespace))
        self._decisions.put(key, decision)
        return decision

    async def namespaces_with(
        self, user: Requester, right: Right, namespaces: Iterable[str]
    ) -> frozenset[str] | None:
        """The namespaces among `namespaces` where `user` holds `right`; None when they hold it in every
        namespace (one review settles that first)."""
        if await self.allowed(user, right, ""):
            return None
        wanted = sorted(set(namespaces))
        gate = asyncio.Semaphore(REVIEW_CONCURRENCY)

        async def one(namespace: str) -> bool:
            async with gate:
                return await self.allowed(user, right, namespace)

        answers = await asyncio.gather(*(one(ns) for ns in wanted))
        return frozenset(ns for ns, ok in zip(wanted, answers, strict=True) if ok)
