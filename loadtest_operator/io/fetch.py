"""The operator's own HTTP requests (model discovery, Prometheus): to checked addresses only, bounded in size.

`PinnedTransport` connects a request to the addresses of the `Pin` it carries (io/addresses.py), in order,
and to nothing else: the URL's host is swapped for the address while the Host header and the TLS server
name (SNI, and the name the certificate is checked against) stay the URL's. A request without a Pin, or
for another host than its Pin's, is refused: nothing here resolves a name again. Redirects are not
followed, and no proxy or .netrc from the environment applies (a client built by `pinned_client`).

`read_bounded` reads a body as a stream and stops past `max_bytes`; the server is asked not to compress,
and a compressed body is refused, so a small body cannot inflate into a large one.
"""

from __future__ import annotations

import functools
import ssl

import httpx

from loadtest_operator.io.addresses import Pin, literal

PIN = "llmload.pin"  # the request extension holding the Pin


class AnswerTooLargeError(ValueError):
    """A body larger than the caller's bound."""

    def __init__(self, what: str, max_bytes: int, announced: int | None = None) -> None:
        said = f"announces {announced} bytes" if announced is not None else f"exceeds {max_bytes} bytes"
        super().__init__(f"the {what} body {said} (at most {max_bytes} are read)")
        self.max_bytes = max_bytes


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verification context, built once (building one takes some 200 ms)."""
    return httpx.create_ssl_context()


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        # No keep-alive by default: a connection made (and verified) for one name must not carry a
        # request for another name that shares the address.
        self._inner = inner or httpx.AsyncHTTPTransport(
            verify=default_ssl_context(), limits=httpx.Limits(max_keepalive_connections=0), retries=1
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pin = request.extensions.get(PIN)
        if not isinstance(pin, Pin):
            raise httpx.ConnectError(f"{request.url.host}: no checked address to connect to", request=request)
        if request.url.host != pin.host:
            raise httpx.ConnectError(
                f"{request.url.host}: not the host whose addresses were checked ({pin.host})", request=request
            )
        if not pin.addresses:
            raise httpx.ConnectError(f"{pin.host} did not resolve", request=request)
        extensions = {k: v for k, v in request.extensions.items() if k != PIN}
        if literal(pin.host) is None:
            extensions["sni_hostname"] = pin.host
        failures: list[str] = []
        for address in pin.addresses:
            dialled = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # the Host header of the URL as written
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(dialled)
            except httpx.ConnectError as exc:  # nothing was sent: the next checked address may answer
                failures.append(f"{address}: {exc}")
        raise httpx.ConnectError(f"{pin.host}: " + "; ".join(failures), request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def pinned_client(inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PinnedTransport(inner), trust_env=False, follow_redirects=False)


async def read_bounded(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    """The body as sent, at most `max_bytes` of it (AnswerTooLargeError past that)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ValueError(f"the server compressed {what} ({encoding}) though asked not to")
    announced = int(response.headers.get("content-length") or 0)
    if announced > max_bytes:
        raise AnswerTooLargeError(what, max_bytes, announced)
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise AnswerTooLargeError(what, max_bytes)
    return bytes(body)


IDENTITY = {"Accept-Encoding": "identity"}
