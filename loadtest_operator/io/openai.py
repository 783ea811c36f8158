"""The operator's calls to the server under test: which model it serves (GET /v1/models) and which
vLLM version it is (GET /version, which vLLM answers with `{"version": "0.9.1"}`).

Bounded in size and time: a listing is a few hundred bytes, so the body is read as a stream and dropped
past MAX_MODELS_BYTES, and the whole call (connect, headers, body) ends at DISCOVERY_TIMEOUT_SECONDS,
however slowly the server trickles. Either way the answer is None: loadgen then asks the server itself,
and the fingerprint says the version is unknown. A version is kept only if it looks like one (at most
64 characters of letters, digits and `.+-_`): nothing else of a remote body reaches status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

import httpx

log = logging.getLogger("llmload.operator")
DISCOVERY_TIMEOUT_SECONDS = 5.0
MAX_MODELS_BYTES = 1 << 20  # 1 MiB: thousands of models' ids and metadata
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")


class ModelsTooLargeError(ValueError):
    """The /v1/models body is larger than any listing."""


class ModelDiscovery:
    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout_seconds: float = DISCOVERY_TIMEOUT_SECONDS,
        max_bytes: int = MAX_MODELS_BYTES,
    ) -> None:
        self._client = client or httpx.AsyncClient()
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes

    async def first_model(self, url: str) -> str | None:
        """The first model of /v1/models; None (loadgen then asks itself) when the server does not say."""
        if not url:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._read(url, "/v1/models")
            models = json.loads(body).get("data") or []
            return str(models[0]["id"]) if models else None
        except TimeoutError:
            log.info("model discovery at %s took over %gs; loadgen will ask itself", url, self._timeout)
        except (
            httpx.HTTPError,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            RecursionError,
        ) as exc:
            log.info("model discovery at %s failed (%s); loadgen will ask itself", url, exc)
        return None

    async def server_version(self, url: str) -> str | None:
        """vLLM's version from GET /version; None when the server does not answer one in time."""
        if not url:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._read(url, "/version")
            version = json.loads(body).get("version")
        except TimeoutError:
            log.info("version lookup at %s took over %gs", url, self._timeout)
            return None
        except (httpx.HTTPError, ValueError, AttributeError, RecursionError) as exc:
            log.info("version lookup at %s failed (%s)", url, exc)
            return None
        if isinstance(version, str) and VERSION_PATTERN.match(version):
            return version
        log.info("version lookup at %s: the answer holds no version", url)
        return None

    async def _read(self, base: str, path: str) -> bytes:
        """The body as sent, at most `max_bytes` of it. Identity encoding is asked for and a compressed
        body refused, so a small body cannot inflate into a large one either."""
        headers = {"Accept-Encoding": "identity"}
        async with self._client.stream("GET", base + path, headers=headers, timeout=self._timeout) as resp:
            resp.raise_for_status()
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise ValueError(f"the server compressed {path} ({encoding}) though asked not to")
            if int(resp.headers.get("content-length") or 0) > self._max_bytes:
                raise ModelsTooLargeError(f"{path} announces {resp.headers['content-length']} bytes")
            body = bytearray()
            async for chunk in resp.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ModelsTooLargeError(f"the {path} body exceeds {self._max_bytes} bytes")
            return bytes(body)
