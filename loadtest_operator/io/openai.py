"""The operator's calls to the server under test: which model it serves (GET /v1/models) and which
vLLM version it is (GET /version, which vLLM answers with `{"version": "0.9.1"}`).

Both go only to the checked addresses of the target (a `Pin`, io/addresses.py): the name is not resolved
again for the request (io/fetch.py). Bounded in size and time: a listing is a few hundred bytes, so the body is read as a stream and dropped
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

from loadtest_operator.io.addresses import Pin
from loadtest_operator.io.fetch import IDENTITY, PIN, AnswerTooLargeError, pinned_client, read_bounded

log = logging.getLogger("llmload.operator")
DISCOVERY_TIMEOUT_SECONDS = 5.0
MAX_MODELS_BYTES = 1 << 20  # 1 MiB: thousands of models' ids and metadata
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")


class ModelDiscovery:
    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        timeout_seconds: float = DISCOVERY_TIMEOUT_SECONDS,
        max_bytes: int = MAX_MODELS_BYTES,
    ) -> None:
        self._client = pinned_client(transport)
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes

    async def first_model(self, target: Pin) -> str | None:
        """The first model of /v1/models; None (loadgen then asks itself) when the server does not say."""
        url = target.url
        if not url:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._read(target, "/v1/models")
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

    async def server_version(self, target: Pin) -> str | None:
        """vLLM's version from GET /version; None when the server does not answer one in time."""
        url = target.url
        if not url:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._read(target, "/version")
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

    async def _read(self, target: Pin, path: str) -> bytes:
        """The body as sent, at most `max_bytes` of it, from the target's checked addresses only."""
        async with self._client.stream(
            "GET", target.url + path, headers=IDENTITY, timeout=self._timeout, extensions={PIN: target}
        ) as resp:
            resp.raise_for_status()
            return await read_bounded(resp, self._max_bytes, path)


__all__ = ["MAX_MODELS_BYTES", "AnswerTooLargeError", "ModelDiscovery"]
