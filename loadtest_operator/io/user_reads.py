"""Reads of the API server made with the caller's own bearer token, not the service's: the results
service's live stream (results/web/live.py) reads a LoadTest as the person watching it, so the cluster's
own authorization decides (RBAC, any webhook authorizer, the audit log names that person) and the
service's ServiceAccount needs no right on LoadTests.

Bounded: each answer at most MAX_ANSWER_BYTES, each request within TIMEOUT_SECONDS; no proxy from the
environment, no redirect followed. The token is sent only to the API server and never logged."""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadtest_operator.api.group import GROUP, PLURAL, VERSION

MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a LoadTest object (etcd keeps at most 1.5 MiB)
TIMEOUT_SECONDS = 10.0
SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")


class UserReadError(RuntimeError):
    """The API server refused the read (status 401, 403, 404) or could not be asked (status 0, 5xx);
    the message is the API server's own `message`, cut to 300 characters."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ApiServer:
    url: str  # https://host:port (http:// only for a loopback stand-in in tests)
    ca_file: str | None = None  # None: the system's trust store
    verify: bool = True

    @classmethod
    def from_environment(cls) -> ApiServer:
        """The API server the pod runs under (in-cluster), else the kubeconfig's current cluster."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if host and port:
            host = f"[{host}]" if ":" in host else host
            return cls(f"https://{host}:{port}", str(SERVICE_ACCOUNT_CA))
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_kube_config(client_configuration=configuration)
        except (config.ConfigException, OSError) as exc:
            raise UserReadError(f"no in-cluster API server and no usable kubeconfig: {exc}") from exc
        return cls(str(configuration.host), configuration.ssl_ca_cert, bool(configuration.verify_ssl))


class UserReads:
    def __init__(self, server: ApiServer) -> None:
        verify: ssl.SSLContext | bool = server.verify
        if server.verify and server.ca_file:
            verify = ssl.create_default_context(cafile=server.ca_file)
        self.http = httpx.AsyncClient(
            base_url=server.url.rstrip("/"),
            verify=verify,
            timeout=TIMEOUT_SECONDS,
            trust_env=False,
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def loadtest(self, namespace: str, name: str, token: str) -> dict[str, Any]:
        """The LoadTest `namespace/name` as the token's owner may see it; raises UserReadError."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
        return await self._get(path, token)

    async def _get(self, path: str, token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            async with self.http.stream("GET", path, headers=headers) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise UserReadError(f"the API server's answer exceeds {MAX_ANSWER_BYTES} bytes", 502)
        except httpx.HTTPError as exc:
            raise UserReadError(f"cannot reach the API server: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise UserReadError(_message(bytes(body), response.status_code), response.status_code)
        try:
            found = json.loads(body)
        except ValueError as exc:
            raise UserReadError("the API server's answer is not JSON", 502) from exc
        if not isinstance(found, dict):
            raise UserReadError("the API server's answer is not an object", 502)
        return found


def _message(body: bytes, status: int) -> str:
    """The `message` of a Kubernetes Status answer (never the raw body of something else)."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message)[:300] if isinstance(message, str) and message else f"HTTP {status}"
