"""The addresses a URL's host resolves to, bounded in time (the fetch policy judges them: core/fetches.py).

The check and the later request resolve separately, so a name that changes its answer in between is not
caught here (docs/security.md says so); IP literals and names that keep their answer are.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from urllib.parse import urlsplit

RESOLVE_TIMEOUT_SECONDS = 2.0


async def addresses_of(url: str, timeout_seconds: float = RESOLVE_TIMEOUT_SECONDS) -> list[str]:
    """Every address of the URL's host; [] when it does not resolve in time (the fetch then fails too)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return []
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(timeout_seconds):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or 0, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError):
        return []
    return sorted({str(info[4][0]) for info in infos})


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
