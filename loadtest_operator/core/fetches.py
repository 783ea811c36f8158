"""Where the operator itself may send a request (pure): a spec must not turn the operator into a client of
the cloud's metadata service, the API server, or a Prometheus the platform team did not choose.

- `<url>/v1/models` (model discovery) goes to the spec's own target only, and never to an address in the
  refused ranges (default: link-local 169.254.0.0/16 and fe80::/10, plus the API server's own addresses,
  added at start-up);
- Prometheus queries go to the operator's Prometheus (the chart's `prometheus.url`) or to a URL the chart
  lists in `prometheus.allowedUrls`, never to another URL a spec names, and never to an address in the
  chart's refused ranges (the API server's own addresses are not refused there: a Prometheus the platform
  team chose may share a host with it, and no Kubernetes credential goes with its queries).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_REFUSED_RANGES = ("169.254.0.0/16", "fe80::/10")


def networks(ranges: Iterable[str]) -> tuple[Network, ...]:
    """CIDR ranges (a bare address is its own /32 or /128); raises ValueError naming a bad entry."""
    parsed: list[Network] = []
    for entry in ranges:
        try:
            parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"refused fetch range {entry!r} is not an address or CIDR range: {exc}"
            ) from None
    return tuple(parsed)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


@dataclass(frozen=True)
class FetchPolicy:
    refused: tuple[Network, ...] = field(default_factory=lambda: networks(DEFAULT_REFUSED_RANGES))
    api_server: tuple[Network, ...] = ()  # the API server's own addresses, found at start-up
    prometheus_url: str | None = None
    allowed_prometheus_urls: tuple[str, ...] = ()

    def refused_address(
        self, url: str, addresses: Sequence[str], field: str, *, api_server: bool = True
    ) -> str | None:
        """Why the operator will not fetch `url`, whose host resolved to `addresses`, or None.
        `api_server`: refuse the API server's own addresses too (a spec's target: yes)."""
        ranges = (*self.refused, *self.api_server) if api_server else self.refused
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                continue
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            for net in ranges:
                if ip in net or (mapped is not None and mapped in net):
                    return (
                        f"{field}: {host_of(url)!r} is {ip}, in {net}, a range the operator never sends "
                        "requests to (link-local metadata services, the API server; the chart's "
                        "fetchPolicy.refusedRanges); name the server's own address or a Service"
                    )
        return None

    def prometheus_refusal(self, url: str | None, field: str) -> str | None:
        """Why the operator will not query the Prometheus a spec names, or None (unset: the operator's)."""
        if (
            not url
            or _same(url, self.prometheus_url)
            or any(_same(url, a) for a in self.allowed_prometheus_urls)
        ):
            return None
        allowed = [u for u in (self.prometheus_url, *self.allowed_prometheus_urls) if u]
        listed = ", ".join(allowed) or "none"
        return (
            f"{field}: {url!r} is not a Prometheus the operator may query; it queries only the one the "
            f"platform team set ({listed}); leave "
            "spec.prometheus.url unset, or ask for it in the chart's prometheus.allowedUrls"
        )


def _same(a: str, b: str | None) -> bool:
    return b is not None and a.rstrip("/") == b.rstrip("/")
