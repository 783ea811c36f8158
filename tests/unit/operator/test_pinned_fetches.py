"""DNS rebinding: the operator's own requests (model discovery, /version, Prometheus) go to the addresses the
fetch policy checked, resolved once, and to no address the name answers later.

Two real HTTP servers listen on loopback on the same port: 127.0.0.2 stands for an allowed server and
127.0.0.3 for a refused one (the metadata service, the API server). A name's answer is made to flip from
the first to the second after the check, through the injected resolver *and* the system's getaddrinfo, so
an implementation that resolves again for the request would reach the refused server; the tests see which
server got which request, with which Host header (and, over TLS, which server name).
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtest_operator.core.fetches import FetchPolicy, networks
from loadtest_operator.gpu.collect import SourceError
from loadtest_operator.io.addresses import Pin, pin, resolve
from loadtest_operator.io.fetch import PIN, PinnedTransport
from loadtest_operator.io.openai import ModelDiscovery
from loadtest_operator.io.prometheus import instant_values

ALLOWED, REFUSED = "127.0.0.2", "127.0.0.3"
POLICY = FetchPolicy(refused=networks(["169.254.0.0/16", f"{REFUSED}/32"]))
NAME = "rebind.test"


@dataclass
class Seen:
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (server, path, Host)
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI, per handshake

    def at(self, server: str) -> list[str]:
        return [path for where, path, _ in self.requests if where == server]


def handler_for(label: str, seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.requests.append((label, self.path.split("?")[0], self.headers.get("Host")))
            if self.path.startswith("/v1/models"):
                body = json.dumps({"data": [{"id": f"model-of-{label}"}]}).encode()
            elif self.path.startswith("/version"):
                body = json.dumps({"version": "0.9.1"}).encode()
            else:
                value = "1" if label == "allowed" else "666"
                result = [{"metric": {}, "value": [1.0, value]}]
                answer = {"status": "success", "data": {"resultType": "vector", "result": result}}
                body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def two_servers(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, Seen]]:
    """The allowed and the refused server, on one port of 127.0.0.2 and 127.0.0.3."""
    seen = Seen()
    if tls is not None:
        tls.sni_callback = lambda sock, name, ctx: seen.server_names.append(name)
    for _ in range(20):
        first = ThreadingHTTPServer((ALLOWED, 0), handler_for("allowed", seen))
        port = first.server_address[1]
        try:
            second = ThreadingHTTPServer((REFUSED, port), handler_for("refused", seen))
            break
        except OSError:
            first.server_close()
    else:
        pytest.fail("no port free on both 127.0.0.2 and 127.0.0.3")
    servers = [first, second]
    threads = []
    for server in servers:
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        yield port, seen
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)


class Flipping:
    """A DNS answer that changes after the first question: allowed at check time, refused afterwards.
    Installed as the injected resolver and as the system's getaddrinfo for `NAME`."""

    def __init__(self, first: Sequence[str], then: Sequence[str]) -> None:
        self.first, self.then = list(first), list(then)
        self.questions = 0

    def answer(self) -> list[str]:
        self.questions += 1
        return self.first if self.questions == 1 else self.then

    async def __call__(self, host: str, port: int) -> list[str]:
        assert host == NAME
        return self.answer()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name != NAME:
                return real(host, port, *args, **kwargs)
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))
                for address in self.answer()
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


async def test_a_name_that_flips_to_a_refused_address_after_the_check_is_never_asked_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flip = Flipping([ALLOWED], [REFUSED])
    flip.install(monkeypatch)
    with two_servers() as (port, seen):
        url = f"http://{NAME}:{port}"
        pinned = await pin(url, POLICY, "spec.target", flip)
        assert isinstance(pinned, Pin)
        assert pinned.addresses == (ALLOWED,)
        discovery = ModelDiscovery(timeout_seconds=2.0)
        assert await discovery.server_version(pinned) == "0.9.1"
        assert await discovery.first_model(pinned) == "model-of-allowed"
        # Prometheus the same way: its queries dial the checked address, whatever the name says now.
        values = await instant_values(url, None, ["up", "up"], 1.0, pin=pinned, deadline_seconds=10)

    assert values == [1.0, 1.0]
    assert seen.at("refused") == []
    assert seen.at("allowed") == ["/version", "/v1/models", "/api/v1/query", "/api/v1/query"]
    assert {host for _, _, host in seen.requests} == {f"{NAME}:{port}"}  # the Host header of the URL
    assert flip.questions == 1  # resolved once, for the check


async def test_the_system_stack_would_have_been_fooled() -> None:
    # The control for the test above: resolving again for the request reaches the refused server.
    flip = Flipping([ALLOWED], [REFUSED])
    with two_servers() as (port, seen):
        checked = await resolve(f"http://{NAME}:{port}", flip)
        assert POLICY.refused_address(checked.url, checked.addresses, "spec.target") is None
        again = await flip(NAME, port)  # what a second resolution, at request time, is told
        async with httpx.AsyncClient() as client:
            await client.get(f"http://{again[0]}:{port}/v1/models", headers={"Host": f"{NAME}:{port}"})
    assert seen.at("refused") == ["/v1/models"]


async def test_a_name_with_several_addresses_is_refused_when_any_is_refused() -> None:
    flip = Flipping([ALLOWED, REFUSED], [ALLOWED, REFUSED])
    with two_servers() as (port, seen):
        refused = await pin(f"http://{NAME}:{port}", POLICY, "spec.target", flip)
    assert isinstance(refused, str)
    assert f"'{NAME}' is {REFUSED}, in {REFUSED}/32" in refused
    assert seen.requests == []


async def test_the_pin_tries_each_checked_address_in_turn() -> None:
    # 127.0.0.4 answers nothing (no server there): the next checked address is dialled, and only it.
    flip = Flipping(["127.0.0.4", ALLOWED], [REFUSED])
    with two_servers() as (port, seen):
        pinned = await pin(f"http://{NAME}:{port}", POLICY, "spec.target", flip)
        assert isinstance(pinned, Pin)
        assert await ModelDiscovery(timeout_seconds=2.0).first_model(pinned) == "model-of-allowed"
    assert [where for where, _, _ in seen.requests] == ["allowed"]


async def test_ip_literals_are_judged_as_written_and_never_resolved() -> None:
    def never(host: str, port: int) -> Any:
        raise AssertionError(f"resolved {host}")

    with two_servers() as (port, seen):
        refused = await pin(f"http://{REFUSED}:{port}", POLICY, "spec.target", never)
        assert isinstance(refused, str)
        assert f"is {REFUSED}" in refused
        allowed = await pin(f"http://{ALLOWED}:{port}", POLICY, "spec.target", never)
        assert isinstance(allowed, Pin)
        assert await ModelDiscovery(timeout_seconds=2.0).first_model(allowed) == "model-of-allowed"
        mapped = await pin(f"http://[::ffff:{REFUSED}]:{port}", POLICY, "spec.target", never)
        assert isinstance(mapped, str)  # an IPv4-mapped IPv6 literal is the IPv4 address
    assert seen.requests == [("allowed", "/v1/models", f"{ALLOWED}:{port}")]


async def test_a_name_that_does_not_resolve_is_never_resolved_again_for_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flip = Flipping([], [ALLOWED])  # NXDOMAIN at check time, an answer afterwards
    flip.install(monkeypatch)
    with two_servers() as (port, seen):
        pinned = await pin(f"http://{NAME}:{port}", POLICY, "spec.target", flip)
        assert isinstance(pinned, Pin)
        assert pinned.addresses == ()
        assert await ModelDiscovery(timeout_seconds=2.0).first_model(pinned) is None
        with pytest.raises(SourceError, match="did not resolve"):
            await instant_values(pinned.url, None, ["up"], 1.0, pin=pinned, deadline_seconds=5)
    assert seen.requests == []


async def test_the_transport_refuses_a_request_without_its_pin_or_for_another_host() -> None:
    with two_servers() as (port, seen):
        async with httpx.AsyncClient(transport=PinnedTransport()) as client:
            with pytest.raises(httpx.ConnectError, match="no checked address"):
                await client.get(f"http://{ALLOWED}:{port}/v1/models")
            other = Pin(f"http://{NAME}:{port}", NAME, (ALLOWED,))
            with pytest.raises(httpx.ConnectError, match="not the host whose addresses were checked"):
                await client.get(f"http://evil.test:{port}/v1/models", extensions={PIN: other})
    assert seen.requests == []


# -- TLS: the certificate is checked against the name, the connection goes to the checked address -------


def certificates(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for `name` (openssl: no Python crypto package needed)."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "ext.cnf"
    ext.write_text(f"subjectAltName=DNS:{name}\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", str(ca_key), "-out", str(ca_crt))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "1", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
    return ca_crt, crt, key


async def test_over_tls_the_server_name_and_host_stay_the_urls(tmp_path: Path) -> None:
    ca, crt, key = certificates(tmp_path, "model.test")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(crt, key)
    trusting = ssl.create_default_context(cafile=str(ca))

    async def model_test(host: str, port: int) -> list[str]:
        return [ALLOWED]

    with two_servers(server_side) as (port, seen):
        discovery = ModelDiscovery(httpx.AsyncHTTPTransport(verify=trusting), timeout_seconds=3.0)
        pinned = await pin(f"https://model.test:{port}", POLICY, "spec.target", model_test)
        assert isinstance(pinned, Pin)
        assert await discovery.first_model(pinned) == "model-of-allowed"
        # A name the certificate does not cover, at the same address: verification fails, nothing is read.
        wrong = await pin(f"https://other.test:{port}", POLICY, "spec.target", model_test)
        assert isinstance(wrong, Pin)
        assert await discovery.first_model(wrong) is None

    assert seen.requests == [("allowed", "/v1/models", f"model.test:{port}")]
    assert seen.server_names[:1] == ["model.test"]
    assert "other.test" in seen.server_names  # it was asked for by name, and refused by the check
