"""Where the operator's own requests may go: a URL's host resolved once, every address judged by the fetch
policy (core/fetches.py), and the answer kept as a `Pin` that the request then dials (io/fetch.py).

Resolving once is the point: a check that resolves the name and a request that resolves it again can be
told two different things (DNS rebinding: an allowed address at check time, the cloud's metadata service
or the API server at request time). A request carries its Pin and connects only to those addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from loadtest_operator.core.fetches import FetchPolicy

RESOLVE_TIMEOUT_SECONDS = 2.0

# (host, port) -> the host's addresses; the system's getaddrinfo unless a test injects another.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # getaddrinfo's order, once each


@dataclass(frozen=True)
class Pin:
    """A URL's host and the addresses it resolved to, once. Made by `pin`, only when the fetch policy
    refuses none of them; a request for `host` dials only `addresses` (none: it fails, never resolves)."""

    url: str
    host: str
    addresses: tuple[str, ...]


def literal(host: str) -> str | None:
    """The host as an address when it is one (IPv6 without brackets, no zone), else None."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


async def resolve(
    url: str, resolver: Resolver = system_resolver, timeout_seconds: float = RESOLVE_TIMEOUT_SECONDS
) -> Pin:
    """The URL's host and every address it resolves to now; none when it does not resolve in time."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return Pin(url, host, ())
    address = literal(host)
    if address is not None:
        return Pin(url, host, (address,))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout_seconds):
            found = tuple(dict.fromkeys(str(a) for a in await resolver(host, port)))
    except (OSError, TimeoutError, UnicodeError):
        found = ()
    return Pin(url, host, found)


async def pin(
    url: str,
    policy: FetchPolicy,
    field: str,
    resolver: Resolver = system_resolver,
    *,
    api_server: bool = True,
) -> Pin | str:
    """The Pin to fetch `url` through, or why the operator will not fetch it (an address in a refused
    range, or the API server's own with `api_server`: every address of the answer is judged)."""
    resolved = await resolve(url, resolver)
    refused = policy.refused_address(url, resolved.addresses, field, api_server=api_server)
    return refused if refused is not None else resolved


def api_server_addresses(host_url: str) -> list[str]:
    """The API server's own addresses, from the client's configured host and the in-cluster environment."""
    found: set[str] = set()
    for host in (urlsplit(host_url).hostname or "", os.environ.get("KUBERNETES_SERVICE_HOST", "")):
        if not host:
            continue
        try:
            found.add(str(ipaddress.ip_address(host)))
        except ValueError:
            try:
                found.update(str(i[4][0]) for i in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM))
            except OSError:
                continue
    return sorted(found)
